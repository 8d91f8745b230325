import { CognitoJwtVerifier } from 'aws-jwt-verify'
import { SimpleFetcher, type Fetcher } from 'aws-jwt-verify/https'
import { SimpleJwksCache, SimplePenaltyBox, type JwksCache } from 'aws-jwt-verify/jwk'
import type { AuthConfig } from '../config.js'

/** Checks a bearer token and returns its subject, or throws why it is invalid. */
export interface TokenVerifier {
  verify (token: string): Promise<{ sub: string }>
}

type CognitoAuth = Extract<AuthConfig, { mode: 'cognito' }>

/**
 * Fetching of the user pool's key set (JWKS). Set here rather than left to
 * aws-jwt-verify's defaults, so that an upgrade cannot change them unseen.
 * The fetcher retries a failed fetch once, so a token with an unknown key
 * waits at most about 2 x (socket idle + response) before it is rejected.
 */
export const JWKS_FETCH = Object.freeze({
  /** Time without socket activity before a fetch fails, in milliseconds. */
  socketIdleTimeoutMs: 1500,
  /** Time for the whole response before a fetch fails, in milliseconds. */
  responseTimeoutMs: 3000,
  /**
   * Time after a failed fetch, or a key id that the fresh key set does not
   * contain, before the key set may be fetched again, in seconds. Tokens
   * with unknown key ids in that time are rejected without a fetch.
   */
  backoffSeconds: 10,
})

/**
 * Build the HTTPS fetcher of key sets with the JWKS_FETCH timeouts.
 * `requestOptions` adds Node.js request options, such as `ca` in tests.
 */
export function createJwksFetcher (requestOptions: Record<string, unknown> = {}): Fetcher {
  return new SimpleFetcher({
    defaultRequestOptions: {
      timeout: JWKS_FETCH.socketIdleTimeoutMs,
      responseTimeout: JWKS_FETCH.responseTimeoutMs,
      ...requestOptions,
    },
  })
}

/** Build the key-set cache with the JWKS_FETCH back-off, fetching through `fetcher`. */
export function createJwksCache (fetcher: Fetcher = createJwksFetcher()): JwksCache {
  return new SimpleJwksCache({
    fetcher,
    penaltyBox: new SimplePenaltyBox({ waitSeconds: JWKS_FETCH.backoffSeconds }),
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
