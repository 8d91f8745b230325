import { createHmac, generateKeyPairSync, sign } from 'node:crypto'
import { GetCommand } from '@aws-sdk/lib-dynamodb'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { signLocalToken } from '../../src/auth/local-tokens.js'
import { buildTestApp, TEST_SECRET } from '../helpers/app.js'

const UNAUTHORIZED_BODY = {
  statusCode: 401,
  error: 'Unauthorized',
  message: 'Missing or invalid bearer token; sign in again and send "Authorization: Bearer <token>".',
  code: 'UNAUTHORIZED',
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** Encode a JWT signed with HMAC over `secret`. `alg` picks the hash: HS256, HS384 or HS512. */
function hmacToken (payload: object, secret = TEST_SECRET, alg = 'HS256'): string {
  const signingInput = `${base64url({ alg, typ: 'JWT' })}.${base64url(payload)}`
  const hash = `sha${alg.slice(2)}`
  return `${signingInput}.${createHmac(hash, secret).update(signingInput).digest('base64url')}`
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/** Claims of a local token for `sub`, valid for an hour. */
function claims (sub: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds()
  return { sub, iat: now, exp: now + 3600, ...overrides }
}

function decodePayload (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8'))
}

function pull (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/notes', headers: { authorization: `Bearer ${token}` } })
}

function assertUnauthorized (t: Test, response: LightMyRequestResponse, label: string): void {
  t.equal(response.statusCode, 401, `${label}: status`)
  t.equal(response.headers['www-authenticate'], 'Bearer', `${label}: www-authenticate`)
  t.same(response.json(), UNAUTHORIZED_BODY, `${label}: body`)
}

t.test('accepts signLocalToken token', async (t) => {
  const { app, tableName } = await buildTestApp(t)
  const token = await signLocalToken(TEST_SECRET, 'alice', 3600)
  const headers = { authorization: `Bearer ${token}` }

  const pushed = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n1' } })
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })

  t.equal(pushed.statusCode, 201)
  t.equal(pulled.statusCode, 200)
  t.equal(pulled.json().notes.length, 1)
  const stored = await app.store.documentClient.send(new GetCommand({
    TableName: tableName,
    Key: { userId: 'alice', noteId: 'n1' },
  }))
  t.equal(stored.Item?.userId, 'alice', 'the note is stored under the token sub')
})

t.test('signLocalToken sets exp in seconds', async (t) => {
  const before = nowSeconds()

  const payload = decodePayload(await signLocalToken(TEST_SECRET, 'alice', 60))

  t.equal(payload.sub, 'alice')
  t.equal(typeof payload.iat, 'number')
  t.equal((payload.exp as number) - (payload.iat as number), 60, 'exp is iat plus 60 s')
  t.ok((payload.exp as number) >= before + 60, 'exp is 60 s after signing')
  t.ok((payload.exp as number) <= nowSeconds() + 60, 'exp is not later than 60 s from now')
})

t.test('accepts crafted HS256 token', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await pull(app, hmacToken(claims('alice')))

  t.equal(response.statusCode, 200)
})

t.test('accepts sub of 256 characters', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await pull(app, await signLocalToken(TEST_SECRET, 's'.repeat(256), 60))

  t.equal(response.statusCode, 200)
})

t.test('rejects invalid local tokens alike', async (t) => {
  const { app } = await buildTestApp(t)
  const now = nowSeconds()
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rs256Input = `${base64url({ alg: 'RS256', typ: 'JWT' })}.${base64url(claims('alice'))}`
  const rs256Token = `${rs256Input}.${sign('sha256', Buffer.from(rs256Input), privateKey).toString('base64url')}`
  const noneInput = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims('alice'))}`
  const [validHeader, , validSignature] = hmacToken(claims('alice')).split('.')

  const cases: Array<[string, string]> = [
    ['other secret', await signLocalToken('another-secret-for-local-tokens-0123456789', 'alice', 3600)],
    ['expired', hmacToken(claims('alice', { iat: now - 7200, exp: now - 3600 }))],
    ['expired a second ago', hmacToken(claims('alice', { exp: now - 1 }))],
    ['no exp', hmacToken({ sub: 'alice', iat: now })],
    ['exp not a number', hmacToken(claims('alice', { exp: String(now + 3600) }))],
    ['not yet valid', hmacToken(claims('alice', { nbf: now + 3600 }))],
    ['no sub', hmacToken({ iat: now, exp: now + 3600 })],
    ['numeric sub', hmacToken(claims('alice', { sub: 42 }))],
    ['empty sub', hmacToken(claims(''))],
    ['sub over 256 characters', hmacToken(claims('s'.repeat(257)))],
    ['RS256', rs256Token],
    ['alg none unsigned', `${noneInput}.`],
    ['alg none with signature', `${noneInput}.c2ln`],
    ['HS384 with the secret', hmacToken(claims('alice'), TEST_SECRET, 'HS384')],
    ['HS512 with the secret', hmacToken(claims('alice'), TEST_SECRET, 'HS512')],
    ['tampered payload', `${validHeader}.${base64url(claims('mallory'))}.${validSignature}`],
    ['garbage', 'garbage'],
    ['empty segments', '..'],
  ]

  for (const [label, token] of cases) {
    assertUnauthorized(t, await pull(app, token), label)
  }
})

t.test('rejects token expired after signing', async (t) => {
  const { app } = await buildTestApp(t)
  const token = await signLocalToken(TEST_SECRET, 'alice', 1)
  const expiresAt = decodePayload(token).exp as number

  // exp is in whole seconds, so wait until the clock passes it. The wait is
  // capped at about 2 s, so a token with a wrong exp fails instead of hanging.
  const waitMs = Math.min(expiresAt * 1000 - Date.now() + 50, 2050)
  await new Promise((resolve) => setTimeout(resolve, waitMs))
  const response = await pull(app, token)

  assertUnauthorized(t, response, 'expired')
})

t.test('rejects missing authorization header', async (t) => {
  const { app } = await buildTestApp(t)

  const pulled = await app.inject({ method: 'GET', url: '/notes' })
  const pushed = await app.inject({ method: 'POST', url: '/notes', payload: { noteId: 'n1' } })

  assertUnauthorized(t, pulled, 'GET')
  assertUnauthorized(t, pushed, 'POST')
})

t.test('health needs no token', async (t) => {
  const { app } = await buildTestApp(t)

  const health = await app.inject({ method: 'GET', url: '/health' })
  const ready = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(health.statusCode, 200)
  t.same(health.json(), { status: 'ok' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready' })
})

t.test('rejects sub with a lone surrogate', async (t) => {
  const { app } = await buildTestApp(t)
  const token = await signLocalToken(TEST_SECRET, 'zed\ud800', 600)

  const response = await app.inject({ method: 'GET', url: '/notes', headers: { authorization: `Bearer ${token}` } })

  t.equal(response.statusCode, 401)
})
