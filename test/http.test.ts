import t from 'tap'
import { SERVER_TIMEOUTS } from '../src/app.js'
import { FIELD_HINTS, toHttpError } from '../src/http-errors.js'
import { NoteInput, PullQuery } from '../src/notes/schemas.js'
import { authHeaders, buildTestApp } from './helpers/app.js'

t.test('GET /health needs no token', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/health' })

  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'ok' })
  t.ok(response.headers['x-request-id'])
})

t.test('GET /ready checks the table', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(response.statusCode, 200)
  t.same(response.json(), { status: 'ready' })
})

t.test('GET /ready is 503 without the table', async (t) => {
  const { app } = await buildTestApp(t, { NOTES_TABLE: 'no-such-table' })

  const response = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'STORE_UNAVAILABLE')
  t.equal(response.headers['retry-after'], '5')
})

t.test('notes routes without the table are 503', async (t) => {
  const { app } = await buildTestApp(t, { NOTES_TABLE: 'no-such-table' })
  const headers = await authHeaders('alice')

  const push = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'a' } })
  const pull = await app.inject({ method: 'GET', url: '/notes', headers })

  for (const response of [push, pull]) {
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'STORE_UNAVAILABLE')
    t.match(response.json().message, /table is missing/)
    t.ok(response.headers['retry-after'])
  }
})

t.test('unknown routes are 404 with a code', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'DELETE', url: '/notes?x=1' })

  t.equal(response.statusCode, 404)
  t.equal(response.json().code, 'NOT_FOUND')
  t.match(response.json().message, /Route DELETE \/notes not found/)
})

t.test('request id comes from x-request-id', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } })

  t.equal(response.headers['x-request-id'], 'abc-123')
})

t.test('unknown errors hide their message', async (t) => {
  const error = toHttpError(new Error('secret internal detail'), 'req-1')

  t.equal(error.code, 'INTERNAL_ERROR')
  t.notMatch(error.message, /secret/)
  t.match(error.message, /req-1/)
})

t.test('server timeouts outlast the load balancer', async (t) => {
  const { app } = await buildTestApp(t)
  const albIdleTimeoutMs = 60_000

  t.ok(SERVER_TIMEOUTS.keepAliveTimeoutMs > albIdleTimeoutMs)
  t.equal(app.server.keepAliveTimeout, SERVER_TIMEOUTS.keepAliveTimeoutMs)
  t.ok(app.server.headersTimeout > app.server.keepAliveTimeout)
})

t.test('plugin client errors keep their status', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/docs/static/index.css', headers: { range: 'bytes=5-1' } })

  t.ok(response.statusCode >= 400 && response.statusCode < 500, `status ${response.statusCode}`)
  t.equal(response.json().code, 'INVALID_REQUEST')
})

t.test('request log omits the query string', async (t) => {
  const lines: string[] = []
  const stream = { write: (line: string) => { lines.push(line) } }
  const { app } = await buildTestApp(t, {}, { logger: { level: 'info', stream } })

  await app.inject({ method: 'GET', url: '/notes?access_token=secret-token-value' })

  t.notOk(lines.some((line) => line.includes('secret-token-value')), 'the query is not logged')
  t.ok(lines.some((line) => line.includes('"path":"/notes"')), 'the path is logged')
})

t.test('invalid x-request-id gets a new id', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'x'.repeat(200) } })

  t.match(response.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('every request field has a hint', async (t) => {
  for (const name of [...Object.keys(NoteInput.properties), ...Object.keys(PullQuery.properties)]) {
    t.ok(FIELD_HINTS[name], name)
  }
})

t.test('plugin errors map by status', async (t) => {
  const notFound = toHttpError(Object.assign(new Error('Not Found'), { statusCode: 404 }), 'req-1')
  const badGateway = toHttpError(Object.assign(new Error('upstream detail'), { statusCode: 502 }), 'req-2')

  t.equal(notFound.code, 'NOT_FOUND')
  t.equal(notFound.statusCode, 404)
  t.equal(badGateway.code, 'INTERNAL_ERROR')
  t.notMatch(badGateway.message, /upstream detail/)
})
