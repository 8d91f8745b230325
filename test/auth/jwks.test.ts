import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type JsonWebKey } from 'node:crypto'
import type { Jwk } from 'aws-jwt-verify/jwk'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import {
  cognitoTokenVerifier,
  createCognitoVerifier,
  createJwksCache,
  createJwksFetcher,
  JWKS_FETCH,
  MAX_CLOCK_SKEW_SECONDS,
} from '../../src/auth/verifiers.js'
import { loadConfig } from '../../src/config.js'
import { buildTestApp } from '../helpers/app.js'
import {
  accessClaims,
  cognitoEnv,
  createSigningKey,
  encodeJwt,
  ISSUER,
  nowSeconds,
  REGION,
  signToken,
  USER_POOL_ID,
  type SigningKey,
} from '../helpers/cognito.js'
import { createSelfSignedCertificate, JwksServer, LoopbackFetcher } from '../helpers/jwks-server.js'

// Some tests wait for fetch timeouts, and one waits out a full back-off period.
t.setTimeout(120_000)

const TLS = createSelfSignedCertificate()

// aws-jwt-verify 5.2 accepts both issuer formats of a user pool and fetches
// each one's key set from its own URI. These two are the only URIs that the
// verifier may request, and both are served from 127.0.0.1.
const JWKS_PATH = `/${USER_POOL_ID}/.well-known/jwks.json`
const REGIONAL_JWKS_URI = `${ISSUER}/.well-known/jwks.json`
const GLOBAL_ISSUER = `https://issuer-cognito-idp.${REGION}.amazonaws.com/${USER_POOL_ID}`
const GLOBAL_JWKS_URI = `${GLOBAL_ISSUER}/.well-known/jwks.json`

/**
 * Upper bound on the time to respond to a request whose key set fetch hangs.
 * The fetcher tries twice, and each try ends at the latest after the socket
 * idle timeout plus the response timeout. The slack covers verification and
 * scheduling. Passing the bound means the request hangs, not that it is slow.
 */
const HANG_BOUND_MS = 2 * JWKS_FETCH.responseTimeoutMs + 2000

const poolKey = createSigningKey('pool-key-1')
const rotatedKey = createSigningKey('pool-key-2')
const outsiderKeys = Array.from({ length: 5 }, (_, i) => createSigningKey(`outsider-${i}`))

interface JwksApp {
  app: FastifyInstance
  server: JwksServer
  fetcher: LoopbackFetcher
}

/**
 * Serve `keys` over HTTPS on 127.0.0.1 and build the app with the production
 * verifier, key set cache and fetcher, reaching that server through a
 * LoopbackFetcher. `requestOptions` are the fetcher's extra Node.js request
 * options, and the default trusts the test certificate.
 */
async function startJwksApp (
  t: Test,
  keys: Jwk[],
  requestOptions: Record<string, unknown> = { ca: TLS.cert },
  backoffSeconds: number = JWKS_FETCH.backoffSeconds,
): Promise<JwksApp> {
  const server = await JwksServer.start(TLS, JWKS_PATH, keys)
  t.teardown(() => server.stop())
  const fetcher = new LoopbackFetcher([REGIONAL_JWKS_URI, GLOBAL_JWKS_URI], server, createJwksFetcher(requestOptions))

  const config = loadConfig(cognitoEnv('access'))
  if (config.auth.mode !== 'cognito') throw new Error('expected AUTH_MODE=cognito in the test config')
  const verifier = createCognitoVerifier(config.auth, createJwksCache(fetcher, backoffSeconds))
  const { app } = await buildTestApp(t, cognitoEnv('access'), { verifier: cognitoTokenVerifier(verifier) })
  return { app, server, fetcher }
}

/** Assert that every fetch went to the pool's key set on 127.0.0.1. */
function assertStayedLocal (t: Test, { server, fetcher }: JwksApp): void {
  t.same(fetcher.rejectedUris, [], 'the verifier requested no other URI')
  t.same(server.unexpectedPaths, [], 'the server received no other path')
}

function pull (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/notes', headers: { authorization: `Bearer ${token}` } })
}

function validToken (key: SigningKey = poolKey, sub = 'user-sub-1'): string {
  return signToken(key, accessClaims(sub))
}

/** Token with a fresh random kid, signed with a key that no key set contains. */
function unknownKidToken (i: number, issuer: string = ISSUER): string {
  const key = outsiderKeys[i % outsiderKeys.length] as SigningKey
  return encodeJwt({ kid: randomUUID(), alg: 'RS256' }, accessClaims('user-sub-1', { iss: issuer }), key.privateKey)
}

function assertUnauthorized (t: Test, response: LightMyRequestResponse, label: string): void {
  t.equal(response.statusCode, 401, `${label}: status`)
  t.equal(response.json().code, 'UNAUTHORIZED', `${label}: code`)
  t.equal(response.headers['www-authenticate'], 'Bearer', `${label}: www-authenticate`)
}

function assertAuthUnavailable (t: Test, response: LightMyRequestResponse, label: string): void {
  t.equal(response.statusCode, 503, `${label}: status`)
  t.equal(response.json().code, 'AUTH_UNAVAILABLE', `${label}: code`)
  t.match(response.headers['retry-after'], /^[1-9][0-9]*$/, `${label}: retry-after in seconds`)
}

const TIMED_OUT = Symbol('timed out')

/** Settle `promise`, or return TIMED_OUT when `boundMs` passes first. */
async function settleWithin<T> (promise: Promise<T>, boundMs: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), boundMs)
  })
  try {
    return await Promise.race([promise, bound])
  } finally {
    clearTimeout(timer)
  }
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

t.test('valid token fetches key set once', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup

  const first = await pull(app, validToken())

  t.equal(first.statusCode, 200, 'first request: status')
  t.equal(fetcher.calls, 1, 'first request fetches the key set')
  t.equal(server.requests, 1, 'the server received one request')

  for (const sub of ['user-sub-1', 'user-sub-2', 'user-sub-3']) {
    const response = await pull(app, validToken(poolKey, sub))
    t.equal(response.statusCode, 200, `${sub}: status`)
  }
  t.equal(fetcher.calls, 1, 'further requests use the cached key set')
  t.equal(server.requests, 1, 'the server received no further request')
  assertStayedLocal(t, setup)
})

t.test('rotated key costs one fetch', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup
  t.equal((await pull(app, validToken())).statusCode, 200, 'pool key before rotation')

  server.addKey(rotatedKey.jwk)
  const rotated = await pull(app, validToken(rotatedKey))

  t.equal(rotated.statusCode, 200, 'rotated key: status')
  t.equal(fetcher.calls, 2, 'the new kid fetched the key set once more')
  t.equal((await pull(app, validToken(rotatedKey, 'user-sub-2'))).statusCode, 200, 'rotated key again')
  t.equal((await pull(app, validToken(poolKey, 'user-sub-2'))).statusCode, 200, 'pool key after rotation')
  t.equal(fetcher.calls, 2, 'both keys are served from the cache')
  t.equal(server.requests, 2, 'the server received two requests')
  assertStayedLocal(t, setup)
})

t.test('unknown kid burst fetches once', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup
  const burst = 50
  t.equal((await pull(app, validToken())).statusCode, 200, 'valid token loads the key set')

  const concurrent = await Promise.all(Array.from({ length: burst }, (_, i) => pull(app, unknownKidToken(i))))
  const callsAfterConcurrent = fetcher.calls
  const sequential: LightMyRequestResponse[] = []
  for (let i = 0; i < burst; i++) sequential.push(await pull(app, unknownKidToken(i)))

  for (const [label, responses] of [['concurrent', concurrent], ['sequential', sequential]] as const) {
    t.same(responses.map((r) => r.statusCode), Array(burst).fill(401), `${label}: statuses`)
    t.same(responses.map((r) => r.json().code), Array(burst).fill('UNAUTHORIZED'), `${label}: codes`)
    t.same(responses.map((r) => r.headers['www-authenticate']), Array(burst).fill('Bearer'), `${label}: www-authenticate`)
  }
  // The concurrent requests share one fetch. Its result lacks their kids, so
  // the back-off starts, and the sequential requests come within it.
  t.equal(callsAfterConcurrent, 2, 'the concurrent burst fetched the key set once')
  t.equal(fetcher.calls, 2, 'the sequential burst in the back-off period fetched nothing')
  t.equal(server.requests, 2, 'the server received two requests')
  t.equal((await pull(app, validToken())).statusCode, 200, 'cached key still verifies in the back-off period')
  assertStayedLocal(t, setup)
})

t.test('each issuer format has own cache', async (t) => {
  // NOTE: the back-off is per key set URI, so unknown kids in tokens of both
  // issuer formats fetch the same key set twice per back-off period.
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, fetcher } = setup
  const burst = 50

  const regional = await pull(app, validToken())
  const global = await pull(app, signToken(poolKey, accessClaims('user-sub-1', { iss: GLOBAL_ISSUER })))
  const responses = await Promise.all(Array.from({ length: burst }, (_, i) =>
    pull(app, unknownKidToken(i, i % 2 === 0 ? ISSUER : GLOBAL_ISSUER))))

  t.equal(regional.statusCode, 200, 'regional issuer: status')
  t.equal(global.statusCode, 200, 'global issuer: status')
  t.same(responses.map((r) => r.statusCode), Array(burst).fill(401), 'unknown kids: statuses')
  t.same(responses.map((r) => r.headers['www-authenticate']), Array(burst).fill('Bearer'), 'unknown kids: www-authenticate')
  t.equal(fetcher.callsByUri.get(REGIONAL_JWKS_URI), 2, 'regional key set URI fetched twice')
  t.equal(fetcher.callsByUri.get(GLOBAL_JWKS_URI), 2, 'global key set URI fetched twice')
  assertStayedLocal(t, setup)
})

t.test('slow endpoint within timeouts succeeds', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup
  server.mode = 'slow'
  server.delayMs = JWKS_FETCH.responseTimeoutMs / 4

  const response = await pull(app, validToken())

  t.equal(response.statusCode, 200, 'status')
  t.equal(fetcher.calls, 1, 'one fetch')
  t.equal(server.requests, 1, 'no retry')
  assertStayedLocal(t, setup)
})

t.test('late response fails fetch', async (t) => {
  // This response comes after JWKS_FETCH.responseTimeoutMs.
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server } = setup
  server.mode = 'slow'
  server.delayMs = JWKS_FETCH.responseTimeoutMs + 500

  const response = await pull(app, validToken())

  assertAuthUnavailable(t, response, 'late key set endpoint')
  t.equal(server.requests, 2, 'the fetcher retried once')
  assertStayedLocal(t, setup)
})

t.test('trickling endpoint answers in bound', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup
  server.mode = 'trickle'

  const response = await settleWithin(pull(app, validToken()), HANG_BOUND_MS)

  if (response === TIMED_OUT) {
    t.fail(`no answer within ${HANG_BOUND_MS} ms while the key set endpoint trickles`)
    return
  }
  assertAuthUnavailable(t, response, 'trickling key set endpoint')
  t.equal(fetcher.calls, 1, 'one fetch')
  t.equal(server.requests, 2, 'the fetcher retried once')
  assertStayedLocal(t, setup)
})

t.test('untrusted certificate is 503', async (t) => {
  // The production fetcher without `ca` must not accept the self-signed certificate.
  const setup = await startJwksApp(t, [poolKey.jwk], {})
  const { app, server, fetcher } = setup

  const response = await pull(app, validToken())

  assertAuthUnavailable(t, response, 'untrusted certificate')
  t.equal(fetcher.calls, 1, 'one fetch')
  t.equal(server.requests, 0, 'no HTTP request got past the TLS handshake')
  assertStayedLocal(t, setup)
})

t.test('invalid key set is 503', async (t) => {
  // A 200 response that is not a key set is the identity provider's
  // failure, so a client with a valid token must not be asked to sign in again.
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup
  server.mode = 'invalid'

  const response = await pull(app, validToken())

  assertAuthUnavailable(t, response, 'HTML instead of a key set')
  t.equal(fetcher.calls, 1, 'one fetch')
  assertStayedLocal(t, setup)
})

t.test('failed fetch starts back-off', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const { app, server, fetcher } = setup
  t.equal((await pull(app, validToken())).statusCode, 200, 'valid token loads the key set')
  await server.stop()

  assertAuthUnavailable(t, await pull(app, validToken(rotatedKey)), 'unknown kid, endpoint stopped')
  const callsAfterFailure = fetcher.calls
  await pull(app, validToken(rotatedKey))

  t.equal(fetcher.calls, callsAfterFailure, 'no fetch in the back-off period after a failed fetch')
  assertStayedLocal(t, setup)
})

t.test('rejects forged tokens', async (t) => {
  const noAlgKey = createSigningKey('no-alg-key')
  delete noAlgKey.jwk.alg
  const encryptionKey = createSigningKey('enc-key')
  encryptionKey.jwk.use = 'enc'
  const ecPublic = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
  const ecJwk = { ...ecPublic.export({ format: 'jwk' }), kid: 'ec-key', alg: 'ES256', use: 'sig' } as Jwk
  const hmacSecret = randomBytes(32)
  const octJwk = { kty: 'oct', k: hmacSecret.toString('base64url'), kid: 'oct-key', alg: 'HS256' } as Jwk
  const setup = await startJwksApp(t, [poolKey.jwk, noAlgKey.jwk, encryptionKey.jwk, ecJwk, octJwk])
  const { app, fetcher } = setup
  const now = nowSeconds()
  const claims = accessClaims('user-sub-1')

  const hs256 = (kid: string, secret: Buffer | string): string => {
    const signingInput = encodeJwt({ kid, alg: 'HS256' }, claims, null).slice(0, -1)
    return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`
  }
  const publicPem = (key: SigningKey): string =>
    createPublicKey({ key: key.jwk as JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()

  const cases: Array<[string, string]> = [
    ['nbf in the future', signToken(poolKey, accessClaims('user-sub-1', { nbf: now + 3600 }))],
    ['iat not a number', signToken(poolKey, accessClaims('user-sub-1', { iat: 'yesterday' }))],
    ['other app client', signToken(poolKey, accessClaims('user-sub-1', { client_id: 'otherclient456' }))],
    ['HS256 with public key PEM', hs256(poolKey.kid, publicPem(poolKey))],
    ['HS256 with public key PEM, key without alg', hs256(noAlgKey.kid, publicPem(noAlgKey))],
    ['alg none', encodeJwt({ kid: poolKey.kid, alg: 'none' }, claims, null)],
    ['alg NONE', encodeJwt({ kid: poolKey.kid, alg: 'NONE' }, claims, null)],
    ['alg none, key without alg', encodeJwt({ kid: noAlgKey.kid, alg: 'none' }, claims, null)],
    ['kid of encryption key', signToken(encryptionKey, claims)],
    ['kid of EC key, RS256 signature', encodeJwt({ kid: 'ec-key', alg: 'RS256' }, claims, poolKey.privateKey)],
    ['kid of oct key, HS256 signature', hs256('oct-key', hmacSecret)],
  ]

  t.equal((await pull(app, validToken())).statusCode, 200, 'valid token loads the key set')
  for (const [label, token] of cases) {
    assertUnauthorized(t, await pull(app, token), label)
  }
  t.equal(fetcher.calls, 1, 'tokens with known kids fetched nothing')
  assertStayedLocal(t, setup)
})

t.test('future iat is rejected', async (t) => {
  const setup = await startJwksApp(t, [poolKey.jwk])
  const now = nowSeconds()
  const issuedAt = (iat: number) => pull(setup.app, signToken(poolKey, accessClaims('user-sub-1', { iat, exp: iat + 3600 })))

  assertUnauthorized(t, await issuedAt(now + 86_400), 'issued a day from now')
  assertUnauthorized(t, await issuedAt(now + MAX_CLOCK_SKEW_SECONDS + 30), 'issued beyond the clock skew')
  t.equal((await issuedAt(now + MAX_CLOCK_SKEW_SECONDS - 30)).statusCode, 200, 'issued within the clock skew')
  assertStayedLocal(t, setup)
})

t.test('outage and recovery', async (t) => {
  // A short back-off, so that each step below can wait it out.
  const backoffSeconds = 1
  const waitOutBackoff = () => sleep(backoffSeconds * 1000 + 100)
  const setup = await startJwksApp(t, [poolKey.jwk], { ca: TLS.cert }, backoffSeconds)
  const { app, server, fetcher } = setup
  // The rotated key is not published until the endpoint recovers, so its
  // tokens need a fetch in every outage.
  const newKidToken = validToken(rotatedKey)
  let cachedSub = 0
  const assertCachedKeyWorks = async (t: Test, label: string) => {
    const calls = fetcher.calls
    cachedSub += 1
    const response = await pull(app, validToken(poolKey, `cached-${cachedSub}`))
    t.equal(response.statusCode, 200, `${label}: cached key status`)
    t.equal(fetcher.calls, calls, `${label}: cached key needs no fetch`)
  }

  t.equal((await pull(app, validToken())).statusCode, 200, 'valid token loads the key set')
  t.equal(fetcher.calls, 1, 'one fetch')

  await t.test('stopped endpoint is 503', async (t) => {
    await server.stop()
    const requests = server.requests

    assertAuthUnavailable(t, await pull(app, newKidToken), 'new kid')
    t.equal(fetcher.calls, 2, 'one more fetch')
    t.equal(server.requests, requests, 'no request reached the stopped server')
    assertAuthUnavailable(t, await pull(app, newKidToken), 'new kid in the back-off period')
    t.equal(fetcher.calls, 2, 'no fetch in the back-off period after a failed fetch')
    await assertCachedKeyWorks(t, 'stopped')
  })

  await t.test('hanging endpoint answers in bound', async (t) => {
    await server.restart()
    await waitOutBackoff()
    server.mode = 'hang'
    const requests = server.requests
    let hangingSettled = false
    const hanging = pull(app, newKidToken).finally(() => {
      hangingSettled = true
    })
    while (server.requests === requests) await sleep(10)

    await assertCachedKeyWorks(t, 'hanging')
    t.notOk(hangingSettled, 'the cached key was verified while the fetch hung')
    const response = await settleWithin(hanging, HANG_BOUND_MS)

    if (response === TIMED_OUT) {
      t.fail(`no answer within ${HANG_BOUND_MS} ms while the key set endpoint hangs`)
      return
    }
    assertAuthUnavailable(t, response, 'new kid')
    t.equal(fetcher.calls, 3, 'one more fetch')
    t.equal(server.requests - requests, 2, 'the fetcher retried once')
  })

  await t.test('500 from endpoint is 503', async (t) => {
    await waitOutBackoff()
    server.mode = 'error'
    const requests = server.requests

    assertAuthUnavailable(t, await pull(app, newKidToken), 'new kid')
    t.equal(fetcher.calls, 4, 'one more fetch')
    t.equal(server.requests - requests, 1, 'a 500 is not retried')
    await assertCachedKeyWorks(t, '500')
  })

  await t.test('closed socket is 503', async (t) => {
    await waitOutBackoff()
    server.mode = 'close'
    const requests = server.requests

    assertAuthUnavailable(t, await pull(app, newKidToken), 'new kid')
    t.equal(fetcher.calls, 5, 'one more fetch')
    t.equal(server.requests - requests, 2, 'the fetcher retried once')
    await assertCachedKeyWorks(t, 'closed socket')
  })

  await t.test('new key accepted after back-off', async (t) => {
    await waitOutBackoff()
    server.mode = 'serve'
    // An unknown kid starts the back-off, and then the pool publishes the new key.
    assertUnauthorized(t, await pull(app, unknownKidToken(0)), 'unknown kid')
    server.addKey(rotatedKey.jwk)
    const calls = fetcher.calls

    assertUnauthorized(t, await pull(app, newKidToken), 'new kid in the back-off period')
    t.equal(fetcher.calls, calls, 'no fetch in the back-off period')
    await assertCachedKeyWorks(t, 'back-off')

    await waitOutBackoff()
    const accepted = await pull(app, newKidToken)

    t.equal(accepted.statusCode, 200, 'new kid after the back-off: status')
    t.equal(fetcher.calls, calls + 1, 'new kid after the back-off fetched once')
    await assertCachedKeyWorks(t, 'recovered')
    t.equal((await pull(app, validToken(rotatedKey, 'user-sub-2'))).statusCode, 200, 'new key again')
    t.equal(fetcher.calls, calls + 1, 'the new key is cached')
  })

  assertStayedLocal(t, setup)
})
