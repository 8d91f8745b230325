import { CognitoJwtVerifier } from 'aws-jwt-verify'
import type { JwksCache } from 'aws-jwt-verify/jwk'
import type { AuthConfig } from '../config.js'

/** Checks a bearer token and returns its subject, or throws why it is invalid. */
export interface TokenVerifier {
  verify (token: string): Promise<{ sub: string }>
}

type CognitoAuth = Extract<AuthConfig, { mode: 'cognito' }>

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
  }, jwksCache === undefined ? undefined : { jwksCache })
}

export function cognitoTokenVerifier (verifier: ReturnType<typeof createCognitoVerifier>): TokenVerifier {
  return {
    async verify (token) {
      const payload = await verifier.verify(token)
      return { sub: payload.sub }
    },
  }
}
