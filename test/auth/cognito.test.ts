import { createHmac, createPublicKey, type JsonWebKey } from 'node:crypto'
import { Writable } from 'node:stream'
import { GetCommand } from '@aws-sdk/lib-dynamodb'
import type { Jwks } from 'aws-jwt-verify/jwk'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { AppDependencies } from '../../src/app.js'
import { buildTestApp } from '../helpers/app.js'
import {
  accessClaims,
  CLIENT_ID,
  cognitoEnv,
  createSigningKey,
  createTestVerifier,
  encodeJwt,
  idClaims,
  nowSeconds,
  REGION,
  signToken,
  type RejectingFetcher,
} from '../helpers/cognito.js'

const UNAUTHORIZED_BODY = {
  statusCode: 401,
  error: 'Unauthorized',
  message: 'Missing or invalid bearer token; sign in again and send "Authorization: Bearer <token>".',
  code: 'UNAUTHORIZED',
}

const poolKey = createSigningKey('pool-key-1')
const rotatedKey = createSigningKey('pool-key-2')
// Same kid as poolKey but another key pair, so its signatures must not verify.
const impostorKey = createSigningKey('pool-key-1')
const unknownKey = createSigningKey('unknown-key')
const JWKS: Jwks = { keys: [poolKey.jwk, rotatedKey.jwk] }

interface CognitoApp {
  app: FastifyInstance
  tableName: string
  fetcher: RejectingFetcher
}

async function buildCognitoApp (
  t: Test,
  tokenUse: 'access' | 'id',
  dependencies: AppDependencies = {},
): Promise<CognitoApp> {
  const { verifier, fetcher } = createTestVerifier(tokenUse, JWKS)
  const { app, tableName } = await buildTestApp(t, cognitoEnv(tokenUse), { ...dependencies, verifier })
  return { app, tableName, fetcher }
}

function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

function pull (app: FastifyInstance, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/notes', headers })
}

function push (app: FastifyInstance, headers: Record<string, string>, noteId = 'n1'): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId, title: 'from cognito' } })
}

/** Assert the one 401 response every rejected credential gets. */
function assertUnauthorized (t: Test, response: LightMyRequestResponse, label: string): void {
  t.equal(response.statusCode, 401, `${label}: status`)
  t.equal(response.headers['www-authenticate'], 'Bearer', `${label}: www-authenticate`)
  t.same(response.json(), UNAUTHORIZED_BODY, `${label}: body`)
}

/** Headers of a request whose token is `claims` signed with the pool key. */
function signedHeaders (claims: object): Record<string, string> {
  return bearer(signToken(poolKey, claims))
}

t.test('accepts valid access token', async (t) => {
  const { app, tableName, fetcher } = await buildCognitoApp(t, 'access')
  const headers = signedHeaders(accessClaims('user-sub-1'))

  const pushed = await push(app, headers)
  const pulled = await pull(app, headers)

  t.equal(pushed.statusCode, 201)
  t.equal(pulled.statusCode, 200)
  t.same(pulled.json().notes.map((note: { noteId: string }) => note.noteId), ['n1'])
  const stored = await app.store.documentClient.send(new GetCommand({
    TableName: tableName,
    Key: { userId: 'user-sub-1', noteId: 'n1' },
  }))
  t.equal(stored.Item?.userId, 'user-sub-1', 'the note is stored under the token sub')
  t.equal(fetcher.calls, 0, 'the preloaded JWKS is used without fetching')
})

t.test('accepts token of rotated key', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'access')

  const response = await pull(app, bearer(signToken(rotatedKey, accessClaims('user-sub-1'))))

  t.equal(response.statusCode, 200)
  t.equal(fetcher.calls, 0)
})

t.test('rejects invalid access tokens alike', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'access')
  const now = nowSeconds()
  const withoutExp = accessClaims('user-sub-1')
  delete withoutExp.exp
  const [validHeader, validPayload, validSignature] = signToken(poolKey, accessClaims('user-sub-1')).split('.')
  const otherPayload = Buffer.from(JSON.stringify(accessClaims('someone-else'))).toString('base64url')
  // Key confusion: an HS256 token whose HMAC secret is the published public key as PEM.
  const publicPem = createPublicKey({ key: poolKey.jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' })
  const hs256Input = `${Buffer.from(JSON.stringify({ kid: poolKey.kid, alg: 'HS256' })).toString('base64url')}.${validPayload}`
  const hs256Signature = createHmac('sha256', publicPem).update(hs256Input).digest('base64url')

  const cases: Array<[string, string]> = [
    ['expired', signToken(poolKey, accessClaims('user-sub-1', { iat: now - 7200, exp: now - 3600 }))],
    ['expired a second ago', signToken(poolKey, accessClaims('user-sub-1', { exp: now - 1 }))],
    ['other app client', signToken(poolKey, accessClaims('user-sub-1', { client_id: 'otherclient456' }))],
    ['no client_id', signToken(poolKey, accessClaims('user-sub-1', { client_id: undefined }))],
    ['id token', signToken(poolKey, idClaims('user-sub-1'))],
    ['no token_use', signToken(poolKey, accessClaims('user-sub-1', { token_use: undefined }))],
    ['bad signature', signToken(impostorKey, accessClaims('user-sub-1'))],
    ['tampered payload', `${validHeader}.${otherPayload}.${validSignature}`],
    ['alg none unsigned', encodeJwt({ kid: poolKey.kid, alg: 'none' }, accessClaims('user-sub-1'), null)],
    ['alg none with signature', `${encodeJwt({ kid: poolKey.kid, alg: 'none' }, accessClaims('user-sub-1'), null)}c2ln`],
    ['HS256 with public key', `${hs256Input}.${hs256Signature}`],
    ['no exp', signToken(poolKey, withoutExp)],
    ['other pool', signToken(poolKey, accessClaims('user-sub-1', {
      iss: `https://cognito-idp.${REGION}.amazonaws.com/${REGION}_OtherPool9`,
    }))],
    ['no iss', signToken(poolKey, accessClaims('user-sub-1', { iss: undefined }))],
    ['no kid', encodeJwt({ alg: 'RS256' }, accessClaims('user-sub-1'), poolKey.privateKey)],
    ['numeric sub', signToken(poolKey, accessClaims('user-sub-1', { sub: 12345 }))],
    ['empty sub', signToken(poolKey, accessClaims(''))],
    ['sub over 256 characters', signToken(poolKey, accessClaims('s'.repeat(257)))],
  ]

  for (const [label, token] of cases) {
    assertUnauthorized(t, await pull(app, bearer(token)), label)
  }
  t.equal(fetcher.calls, 0, 'no token with a known kid fetches the JWKS')
})

t.test('rejects signed token without sub', async (t) => {
  const { app } = await buildCognitoApp(t, 'access')
  const claims = accessClaims('user-sub-1')
  delete claims.sub

  const response = await pull(app, signedHeaders(claims))

  assertUnauthorized(t, response, 'no sub')
})

t.test('rejects invalid token on push', async (t) => {
  const { app, tableName } = await buildCognitoApp(t, 'access')
  const expired = signToken(poolKey, accessClaims('user-sub-1', { exp: nowSeconds() - 60 }))

  const response = await push(app, bearer(expired))

  assertUnauthorized(t, response, 'expired token')
  const stored = await app.store.documentClient.send(new GetCommand({
    TableName: tableName,
    Key: { userId: 'user-sub-1', noteId: 'n1' },
  }))
  t.equal(stored.Item, undefined, 'nothing is stored')
})

t.test('accepts sub of 256 characters', async (t) => {
  const { app } = await buildCognitoApp(t, 'access')

  const response = await pull(app, signedHeaders(accessClaims('s'.repeat(256))))

  t.equal(response.statusCode, 200)
})

t.test('unknown kid is 401 after one fetch', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'access')
  const token = signToken(unknownKey, accessClaims('user-sub-1'))

  const first = await pull(app, bearer(token))

  assertUnauthorized(t, first, 'unknown kid')
  t.equal(fetcher.calls, 1, 'the verifier tries to fetch the JWKS once')
})

t.test('unknown kid fetches bounded', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'access')
  const token = signToken(unknownKey, accessClaims('user-sub-1'))
  const requests = 5

  const sequential: LightMyRequestResponse[] = []
  for (let i = 0; i < requests; i++) sequential.push(await pull(app, bearer(token)))
  const sequentialCalls = fetcher.calls
  const concurrent = await Promise.all(Array.from({ length: requests }, () => pull(app, bearer(token))))
  const concurrentCalls = fetcher.calls - sequentialCalls

  for (const [i, response] of [...sequential, ...concurrent].entries()) {
    assertUnauthorized(t, response, `request ${i + 1}`)
  }
  t.ok(sequentialCalls <= requests, `sequential: ${sequentialCalls} fetches for ${requests} requests`)
  t.ok(concurrentCalls <= requests, `concurrent: ${concurrentCalls} fetches for ${requests} requests`)
  const valid = await pull(app, signedHeaders(accessClaims('user-sub-1')))
  t.equal(valid.statusCode, 200, 'known keys still verify after failed fetches')
})

t.test('rejects malformed authorization headers', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'access')
  const token = signToken(poolKey, accessClaims('user-sub-1'))
  const other = signToken(poolKey, accessClaims('user-sub-2'))

  // Exactly one space separates the scheme from one token.
  const cases: Array<[string, string]> = [
    ['token without scheme', token],
    ['other scheme', `Token ${token}`],
    ['basic scheme', 'Basic dXNlcjpwYXNzd29yZA=='],
    ['Bearer alone', 'Bearer'],
    ['Bearer and space', 'Bearer '],
    ['two tokens', `Bearer ${token} ${other}`],
    ['two bearer credentials', `Bearer ${token}, Bearer ${other}`],
    ['two spaces', `Bearer  ${token}`],
    ['trailing text', `Bearer ${token} x`],
    ['tab separator', `Bearer\t${token}`],
  ]

  for (const [label, authorization] of cases) {
    assertUnauthorized(t, await pull(app, { authorization }), label)
  }
  assertUnauthorized(t, await pull(app, {}), 'no authorization header')
  t.equal(fetcher.calls, 0)
})

t.test('accepts the scheme in any case', async (t) => {
  const { app } = await buildCognitoApp(t, 'access')
  const token = signToken(poolKey, accessClaims('user-sub-1'))

  for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
    const response = await pull(app, { authorization: `${scheme} ${token}` })
    t.equal(response.statusCode, 200, scheme)
  }
})

t.test('rejects garbage tokens', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'access')
  const json = (value: string) => Buffer.from(value).toString('base64url')
  const garbage = [
    'garbage',
    'a.b.c',
    'a.b',
    '...',
    `${json('not json')}.${json('{}')}.c2ln`,
    `${json('{"alg":"RS256"}')}.${json('[1,2]')}.c2ln`,
    `${json('{"alg":"RS256","kid":"pool-key-1"}')}.${json('null')}.c2ln`,
    'x'.repeat(10_000),
  ]

  for (const token of garbage) {
    assertUnauthorized(t, await pull(app, bearer(token)), `token ${JSON.stringify(token.slice(0, 24))}`)
  }
  t.equal(fetcher.calls, 0)
})

t.test('owner is sub, not username', async (t) => {
  const { app } = await buildCognitoApp(t, 'access')
  const first = signedHeaders(accessClaims('user-sub-1', { username: 'alice' }))
  const renamed = signedHeaders(accessClaims('user-sub-1', { username: 'alice-renamed' }))
  const other = signedHeaders(accessClaims('user-sub-2', { username: 'alice' }))

  await push(app, first, 'n1')
  await push(app, renamed, 'n2')
  const fromFirst = await pull(app, first)
  const fromRenamed = await pull(app, renamed)
  const fromOther = await pull(app, other)

  const noteIds = (response: LightMyRequestResponse) =>
    response.json().notes.map((note: { noteId: string }) => note.noteId).sort()
  t.same(noteIds(fromFirst), ['n1', 'n2'])
  t.same(noteIds(fromRenamed), ['n1', 'n2'])
  t.same(noteIds(fromOther), [], 'another sub with the same username sees nothing')
})

t.test('id token mode accepts id token', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'id')
  const headers = signedHeaders(idClaims('user-sub-1'))

  const pushed = await push(app, headers)
  const pulled = await pull(app, headers)

  t.equal(pushed.statusCode, 201)
  t.equal(pulled.statusCode, 200)
  t.equal(pulled.json().notes.length, 1)
  t.equal(fetcher.calls, 0)
})

t.test('id token mode rejects invalid tokens', async (t) => {
  const { app, fetcher } = await buildCognitoApp(t, 'id')
  const now = nowSeconds()
  const withoutExp = idClaims('user-sub-1')
  delete withoutExp.exp

  const cases: Array<[string, string]> = [
    ['access token', signToken(poolKey, accessClaims('user-sub-1'))],
    ['other app client', signToken(poolKey, idClaims('user-sub-1', { aud: 'otherclient456' }))],
    ['client id in client_id only', signToken(poolKey, idClaims('user-sub-1', { aud: undefined, client_id: CLIENT_ID }))],
    ['expired', signToken(poolKey, idClaims('user-sub-1', { exp: now - 60 }))],
    ['no exp', signToken(poolKey, withoutExp)],
    ['bad signature', signToken(impostorKey, idClaims('user-sub-1'))],
  ]

  for (const [label, token] of cases) {
    assertUnauthorized(t, await pull(app, bearer(token)), label)
  }
  t.equal(fetcher.calls, 0)
})

t.test('id token owner is sub', async (t) => {
  const { app } = await buildCognitoApp(t, 'id')
  const first = signedHeaders(idClaims('user-sub-1', { 'cognito:username': 'alice' }))
  const renamed = signedHeaders(idClaims('user-sub-1', { 'cognito:username': 'alice-renamed' }))

  await push(app, first)
  const pulled = await pull(app, renamed)

  t.equal(pulled.statusCode, 200)
  t.same(pulled.json().notes.map((note: { noteId: string }) => note.noteId), ['n1'])
})

t.test('logs reason but not token', async (t) => {
  const lines: string[] = []
  const stream = new Writable({
    write (chunk, _encoding, callback) {
      lines.push(String(chunk))
      callback()
    },
  })
  const { app } = await buildCognitoApp(t, 'access', { logger: { level: 'info', stream } })
  const forged = signToken(impostorKey, accessClaims('user-sub-1'))
  const expired = signToken(poolKey, accessClaims('user-sub-1', { exp: nowSeconds() - 60 }))
  const valid = signToken(poolKey, accessClaims('user-sub-1'))

  await pull(app, bearer(forged))
  await pull(app, bearer(expired))
  await pull(app, bearer(valid))
  await pull(app, { authorization: `Token ${valid}` })

  const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  const failures = entries.filter((entry) => entry.msg === 'authentication failed')
  t.equal(failures.length, 3, 'one line per rejected request')
  t.match(failures[0], { level: 30, code: 'UNAUTHORIZED', reason: /signature/i })
  t.match(failures[1], { level: 30, code: 'UNAUTHORIZED', reason: /expired/i })
  t.match(failures[2], { level: 30, code: 'UNAUTHORIZED', reason: /Bearer/ })
  for (const token of [forged, expired, valid]) {
    const signature = token.split('.')[2] as string
    t.notOk(lines.some((line) => line.includes(token)), 'no line contains the token')
    t.notOk(lines.some((line) => line.includes(signature)), 'no line contains the signature')
  }
  const completed = entries.filter((entry) => entry.msg === 'request completed')
  t.same(completed.map((entry) => entry.statusCode), [401, 401, 200, 401])
  t.equal(completed[2]?.userId, 'user-sub-1', 'the accepted request logs its sub')
})

t.test('builds verifier from config', async (t) => {
  // No verifier is injected, so the app builds its own from the Cognito
  // settings. Only requests rejected before the JWKS is needed are sent,
  // because that verifier would fetch the JWKS from AWS.
  const { app } = await buildTestApp(t, cognitoEnv('access'))

  const missing = await pull(app, {})
  const garbage = await pull(app, bearer('garbage'))

  assertUnauthorized(t, missing, 'no authorization header')
  assertUnauthorized(t, garbage, 'garbage token')
})

t.test('health needs no token', async (t) => {
  const { app } = await buildCognitoApp(t, 'access')

  const health = await app.inject({ method: 'GET', url: '/health' })
  const ready = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(health.statusCode, 200)
  t.equal(ready.statusCode, 200)
})
