import t from 'tap'
import { authHeaders, buildTestApp } from './helpers/app.js'

t.test('rate limit applies per user', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60' })
  const alice = await authHeaders('alice')

  const statuses = []
  for (let index = 0; index < 4; index++) {
    statuses.push((await app.inject({ method: 'GET', url: '/notes', headers: alice })).statusCode)
  }
  const limited = await app.inject({ method: 'POST', url: '/notes', headers: alice, payload: { noteId: 'a' } })
  const bob = await app.inject({ method: 'GET', url: '/notes', headers: await authHeaders('bob') })

  t.same(statuses, [200, 200, 200, 429])
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.match(limited.json().message, /3 requests per 60 s/)
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After in seconds')
  t.equal(bob.statusCode, 200, 'another user is not limited')
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers: await authHeaders('bob') })
  t.equal(pulled.statusCode, 200)
})

t.test('rate limit ignores health checks', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '1' })

  const statuses = []
  for (let index = 0; index < 3; index++) {
    statuses.push((await app.inject({ method: 'GET', url: '/health' })).statusCode)
  }

  t.same(statuses, [200, 200, 200])
})

t.test('CORS preflight needs no token', async (t) => {
  const { app } = await buildTestApp(t, { CORS_ORIGINS: 'https://app.example.com,http://localhost:5173' })

  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/notes',
    headers: {
      origin: 'https://app.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  })
  const withoutToken = await app.inject({ method: 'GET', url: '/notes', headers: { origin: 'https://app.example.com' } })
  const withToken = await app.inject({
    method: 'GET', url: '/notes', headers: { origin: 'https://app.example.com', ...(await authHeaders('alice')) },
  })

  t.equal(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(preflight.headers['access-control-allow-headers']), /authorization/)
  t.match(String(preflight.headers['access-control-allow-methods']), /POST/)
  t.equal(withoutToken.statusCode, 401, 'the real request still needs a token')
  t.equal(withToken.statusCode, 200)
  t.equal(withToken.headers['access-control-allow-origin'], 'https://app.example.com')
})

t.test('CORS rejects other origins', async (t) => {
  const { app } = await buildTestApp(t, { CORS_ORIGINS: 'https://app.example.com' })

  const response = await app.inject({
    method: 'GET', url: '/notes', headers: { origin: 'https://evil.example', ...(await authHeaders('alice')) },
  })

  t.equal(response.headers['access-control-allow-origin'], undefined)
})

t.test('CORS is off without origins', async (t) => {
  const { app } = await buildTestApp(t)

  const preflight = await app.inject({
    method: 'OPTIONS',
    url: '/notes',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' },
  })

  t.equal(preflight.headers['access-control-allow-origin'], undefined)
  t.equal(preflight.statusCode, 404)
})

t.test('responses carry security headers', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/health' })

  t.equal(response.headers['x-content-type-options'], 'nosniff')
  t.ok(response.headers['strict-transport-security'])
  t.equal(response.headers['x-frame-options'], 'SAMEORIGIN')
  t.equal(response.headers['x-powered-by'], undefined)
})

t.test('overload sheds requests but not liveness', async (t) => {
  const { app } = await buildTestApp(t, { MAX_EVENT_LOOP_DELAY_MS: '20' })
  const headers = await authHeaders('alice')

  // Block the event loop past under-pressure's 1 s sampling period, so its
  // delayed sampling timer fires right after and measures the block.
  const blockedUntil = Date.now() + 1200
  while (Date.now() < blockedUntil) { /* busy */ }
  // The overdue sampling timer runs before this later one.
  await new Promise((resolve) => setTimeout(resolve, 10))
  const shed = await app.inject({ method: 'GET', url: '/notes', headers })
  const health = await app.inject({ method: 'GET', url: '/health' })

  t.equal(shed.statusCode, 503)
  t.equal(shed.json().code, 'OVERLOADED')
  t.ok(shed.headers['retry-after'])
  t.equal(health.statusCode, 200)
})

t.test('request timeout follows its setting', async (t) => {
  const { app } = await buildTestApp(t, { REQUEST_TIMEOUT_MS: '5000' })

  t.equal(app.server.requestTimeout, 5000)
})
