import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { signLocalToken } from '../../src/auth/local-tokens.js'
import { buildTestApp, TEST_SECRET, tokenFor } from '../helpers/app.js'
import { BURST_SETTINGS, listenOnLoopback, sendRaw, type RawResponse } from '../helpers/hostile.js'

const UNAUTHORIZED_BODY = {
  statusCode: 401,
  error: 'Unauthorized',
  message: 'Missing or invalid bearer token; sign in again and send "Authorization: Bearer <token>".',
  code: 'UNAUTHORIZED',
}

/** Build an app where bob has one note, so that a request served as bob shows it. */
async function buildHeadersApp (t: Test) {
  const { app } = await buildTestApp(t, BURST_SETTINGS)
  const alice = await tokenFor('alice')
  const bob = await tokenFor('bob')
  await app.inject({ method: 'POST', url: '/notes', headers: { authorization: `Bearer ${bob}` }, payload: { noteId: 'bob-note' } })
  return { app, alice, bob }
}

function assertUnauthorized (t: Test, response: LightMyRequestResponse | RawResponse, label: string): void {
  const body = 'json' in response ? response.json() : JSON.parse(response.body)
  t.equal(response.statusCode, 401, `${label}: status`)
  t.equal(response.headers['www-authenticate'], 'Bearer', `${label}: www-authenticate`)
  t.same(body, UNAUTHORIZED_BODY, `${label}: body`)
}

/** Format a GET /notes request with the given header lines, for sendRaw. */
function rawPull (headerLines: Array<string | Buffer>): Buffer {
  const parts = [Buffer.from('GET /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n')]
  for (const line of headerLines) parts.push(Buffer.from(line), Buffer.from('\r\n'))
  parts.push(Buffer.from('\r\n'))
  return Buffer.concat(parts)
}

const HEALTH_REQUEST = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'

t.test('malformed Authorization headers are 401', async (t) => {
  const { app, alice, bob } = await buildHeadersApp(t)
  const otherSecret = await signLocalToken('another-secret-for-local-tokens-0123456789', 'alice', 3600)
  const expired = await signLocalToken(TEST_SECRET, 'alice', -60)
  const cases: Array<[string, string | undefined]> = [
    ['no header', undefined],
    ['empty', ''],
    ['space', ' '],
    ['Bearer alone', 'Bearer'],
    ['Bearer and space', 'Bearer '],
    ['Bearer and spaces', 'Bearer     '],
    ['two spaces before the token', `Bearer  ${alice}`],
    ['tab separator', `Bearer\t${alice}`],
    ['Basic scheme', 'Basic xxx'],
    ['Basic credentials', `Basic ${Buffer.from('alice:password').toString('base64')}`],
    ['other scheme', `Token ${alice}`],
    ['token without scheme', alice],
    ['two tokens', `Bearer ${alice} ${bob}`],
    ['two credentials without space', `Bearer ${alice},Bearer ${bob}`],
    ['two credentials', `Bearer ${alice}, Bearer ${bob}`],
    ['trailing text', `Bearer ${alice} x`],
    ['changed signature', `Bearer ${alice.slice(0, -2)}${alice.endsWith('AA') ? 'BB' : 'AA'}`],
    ['cut token', `Bearer ${alice.slice(0, -10)}`],
    ['three dots', 'Bearer x.y.z'],
    ['other secret', `Bearer ${otherSecret}`],
    ['expired', `Bearer ${expired}`],
    ['100 KB token', `Bearer ${'a'.repeat(100_000)}`],
    ['latin1 token', 'Bearer caf\u00e9'],
    ['byte 0xFF in token', `Bearer ${alice}\u00ff`],
  ]

  for (const [label, authorization] of cases) {
    const headers = authorization === undefined ? {} : { authorization }
    const pull = await app.inject({ method: 'GET', url: '/notes', headers })
    // The token is checked before the body is read, so an invalid body still gets 401.
    const push = await app.inject({
      method: 'POST', url: '/notes', headers: { ...headers, 'content-type': 'application/json' }, payload: '{',
    })
    assertUnauthorized(t, pull, `GET ${label}`)
    assertUnauthorized(t, push, `POST ${label}`)
  }
})

t.test('auth scheme is case-insensitive', async (t) => {
  const { app, alice } = await buildHeadersApp(t)

  // RFC 7235, section 2.1: the auth scheme is case-insensitive.
  for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
    const response = await app.inject({ method: 'GET', url: '/notes', headers: { authorization: `${scheme} ${alice}` } })
    t.equal(response.statusCode, 200, scheme)
  }
})

t.test('duplicate Authorization lines are rejected', async (t) => {
  const { app, alice, bob } = await buildHeadersApp(t)
  const port = await listenOnLoopback(app)
  // Authorization has one value (RFC 9110, section 5.3), and Node keeps
  // only the first of repeated lines. Serving the request as either token's
  // user would let a proxy that checks one line pass a request the server
  // runs as the other.
  const cases: Array<[string, string, string]> = [
    ['valid then garbage', alice, 'garbage'],
    ['garbage then valid', 'garbage', alice],
    ['alice then bob', alice, bob],
    ['bob then alice', bob, alice],
    ['the same token twice', alice, alice],
    ['garbage twice', 'garbage', 'other-garbage'],
  ]

  for (const [label, first, second] of cases) {
    const response = await sendRaw(port, rawPull([`Authorization: Bearer ${first}`, `Authorization: Bearer ${second}`]))
    t.ok(response.statusCode === 400 || response.statusCode === 401, `${label}: 400 or 401, got ${response.statusCode} ${response.body.slice(0, 120)}`)
  }
})

t.test('oversize Authorization header is 4xx', async (t) => {
  const { app, alice } = await buildHeadersApp(t)
  const port = await listenOnLoopback(app)

  const oversize = await sendRaw(port, rawPull([`Authorization: Bearer ${'a'.repeat(100_000)}`]))
  const health = await sendRaw(port, HEALTH_REQUEST)
  const underLimit = await sendRaw(port, rawPull([`Authorization: Bearer ${'a'.repeat(15_000)}`]))
  const valid = await sendRaw(port, rawPull([`Authorization: Bearer ${alice}`]))

  // Node rejects headers over its default limit of 16 KiB with 431 before the request reaches Fastify.
  t.equal(oversize.statusCode, 431, '100 KB token')
  t.equal(health.statusCode, 200, 'the server still responds')
  assertUnauthorized(t, underLimit, '15 KB token')
  t.equal(valid.statusCode, 200, 'a valid token still works')
})

t.test('non-ASCII Authorization bytes are 401', async (t) => {
  const { app, alice } = await buildHeadersApp(t)
  const port = await listenOnLoopback(app)
  const cases: Array<[string, Buffer]> = [
    ['latin1 "é"', Buffer.from('caf\u00e9', 'latin1')],
    ['UTF-8 "é"', Buffer.from('café', 'utf8')],
    ['UTF-8 emoji', Buffer.from('😀', 'utf8')],
    ['byte 0x80', Buffer.from([0x80])],
    ['byte 0xFF after a valid token', Buffer.concat([Buffer.from(alice), Buffer.from([0xff])])],
  ]

  for (const [label, token] of cases) {
    const line = Buffer.concat([Buffer.from('Authorization: Bearer '), token])
    assertUnauthorized(t, await sendRaw(port, rawPull([line])), label)
  }
})

t.test('control bytes in headers are 400', async (t) => {
  const { app, alice } = await buildHeadersApp(t)
  const port = await listenOnLoopback(app)
  const cases: Array<[string, Buffer]> = [
    ['NUL', Buffer.from([0x00])],
    ['byte 0x01', Buffer.from([0x01])],
    ['DEL', Buffer.from([0x7f])],
    ['bare CR', Buffer.from([0x0d])],
  ]

  for (const [label, bytes] of cases) {
    const line = Buffer.concat([Buffer.from(`Authorization: Bearer ${alice.slice(0, 20)}`), bytes, Buffer.from(alice.slice(20))])
    const response = await sendRaw(port, rawPull([line]))
    t.equal(response.statusCode, 400, `${label}: status`)
  }
  const health = await sendRaw(port, HEALTH_REQUEST)
  t.equal(health.statusCode, 200, 'the server still responds')
})

t.test('whitespace around the header value is ignored', async (t) => {
  const { app, alice } = await buildHeadersApp(t)
  const port = await listenOnLoopback(app)

  // Whitespace around a field value is not part of it (RFC 9110, section 5.5).
  const cases: Array<[string, string]> = [
    ['spaces', `Authorization:    Bearer ${alice}   `],
    ['tabs', `Authorization:\tBearer ${alice}\t`],
  ]

  for (const [label, line] of cases) {
    const response = await sendRaw(port, rawPull([line]))
    t.equal(response.statusCode, 200, label)
  }
})
