import { CognitoJwtVerifier } from 'aws-jwt-verify'
import { FetchError } from 'aws-jwt-verify/error'
import { SimpleFetcher, type Fetcher } from 'aws-jwt-verify/https'
import { SimpleJwksCache, SimplePenaltyBox, type JwksCache } from 'aws-jwt-verify/jwk'
import type { AuthConfig } from '../config.js'

/** Checks a bearer token and returns its subject, or throws why it is invalid. */
export interface TokenVerifier {
  verify (token: string): Promise<{ sub: string }>
}

type CognitoAuth = Extract<AuthConfig, { mode: 'cognito' }>

/** Largest difference between the pool's clock and this server's that iat may show, in seconds. */
export const MAX_CLOCK_SKEW_SECONDS = 60

/**
 * Fetching of the user pool's key set (JWKS). Set here rather than left to
 * aws-jwt-verify's defaults, so that an upgrade cannot change them unseen.
 * aws-jwt-verify retries a failed fetch once, so a token with an unknown key
 * waits at most about 2 x responseTimeoutMs for its response.
 */
export const JWKS_FETCH = Object.freeze({
  /** Time for the whole response before a fetch fails, in milliseconds. */
  responseTimeoutMs: 3000,
  /**
   * Time after a failed fetch, or after a fresh key set that lacks a
   * token's key id, before the key set may be fetched again, in seconds.
   * In that time, tokens that need a fetch get a response without one.
   */
  backoffSeconds: 10,
})

/**
 * Build the HTTPS fetcher of key sets with the JWKS_FETCH timeout.
 * `requestOptions` adds Node.js request options, such as `ca` in tests.
 */
export function createJwksFetcher (requestOptions: Record<string, unknown> = {}): Fetcher {
  return new SimpleFetcher({
    defaultRequestOptions: { responseTimeout: JWKS_FETCH.responseTimeoutMs, ...requestOptions },
  })
}

/**
 * Fetcher that fails at once, without a request, for `backoffSeconds` after
 * a failed fetch of the same URI. aws-jwt-verify's penalty box only starts a
 * back-off when a fetched key set lacks a key id, so without this, every
 * token with an unknown key id would fetch again while the endpoint is down.
 */
class FailureBackoffFetcher implements Fetcher {
  readonly #inner: Fetcher
  readonly #backoffMs: number
  readonly #failedAt = new Map<string, number>()

  constructor (inner: Fetcher, backoffSeconds: number) {
    this.#inner = inner
    this.#backoffMs = backoffSeconds * 1000
  }

  async fetch (uri: string, requestOptions?: Record<string, unknown>, data?: ArrayBuffer): Promise<ArrayBuffer> {
    const failedAt = this.#failedAt.get(uri)
    if (failedAt !== undefined && Date.now() - failedAt < this.#backoffMs) {
      throw new FetchError(uri, 'the last fetch failed, and the back-off period has not ended')
    }
    try {
      const body = await this.#inner.fetch(uri, requestOptions, data)
      this.#failedAt.delete(uri)
      return body
    } catch (err) {
      this.#failedAt.set(uri, Date.now())
      throw err
    }
  }
}

/**
 * Build the key-set cache, fetching through `fetcher`, with a back-off of
 * `backoffSeconds` after a failed fetch and after a key set that lacks a
 * token's key id.
 */
export function createJwksCache (
  fetcher: Fetcher = createJwksFetcher(),
  backoffSeconds: number = JWKS_FETCH.backoffSeconds,
): JwksCache {
  return new SimpleJwksCache({
    fetcher: new FailureBackoffFetcher(fetcher, backoffSeconds),
    penaltyBox: new SimplePenaltyBox({ waitSeconds: backoffSeconds }),
  })
}

/**
 * Build aws-jwt-verify's verifier for the configured pool, app client and
 * token use. It checks signature, issuer, expiry, token_use and client id;
 * the extra check rejects tokens without `exp`, which the library accepts.
 */
export function createCognitoVerifier (auth: CognitoAuth, jwksCache?: JwksCache) {
  return CognitoJwtVerifier.create({
    userPoolId: auth.userPoolId,
    clientId: auth.clientId,
    tokenUse: auth.tokenUse,
    customJwtCheck: ({ payload }) => {
      if (payload.exp === undefined) throw new Error('token has no exp claim')
      // aws-jwt-verify checks only that iat is a number. A token issued in
      // the future beyond clock skew was not issued by the pool.
      if (payload.iat !== undefined && payload.iat > Date.now() / 1000 + MAX_CLOCK_SKEW_SECONDS) {
        throw new Error(`token iat ${payload.iat} is in the future`)
      }
    },
  }, { jwksCache: jwksCache ?? createJwksCache() })
}

export function cognitoTokenVerifier (verifier: ReturnType<typeof createCognitoVerifier>): TokenVerifier {
  return {
    async verify (token) {
      const payload = await verifier.verify(token)
      // aws-jwt-verify does not require `sub`; Cognito always sets it.
      if (typeof payload.sub !== 'string') throw new Error('sub claim is not a string')
      return { sub: payload.sub }
    },
  }
}
