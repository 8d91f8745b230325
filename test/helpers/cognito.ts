import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { SimpleJwksCache, type Jwk, type Jwks } from 'aws-jwt-verify/jwk'
import { cognitoTokenVerifier, createCognitoVerifier, type TokenVerifier } from '../../src/auth/verifiers.js'
import { loadConfig } from '../../src/config.js'

export const REGION = 'us-east-1'
export const USER_POOL_ID = 'us-east-1_TestPool1'
export const CLIENT_ID = 'testclient123'
export const ISSUER = `https://cognito-idp.${REGION}.amazonaws.com/${USER_POOL_ID}`

/** Environment of an app that accepts Cognito tokens of the test pool. */
export function cognitoEnv (tokenUse: 'access' | 'id'): Record<string, string> {
  return {
    AUTH_MODE: 'cognito',
    COGNITO_USER_POOL_ID: USER_POOL_ID,
    COGNITO_CLIENT_ID: CLIENT_ID,
    COGNITO_TOKEN_USE: tokenUse,
  }
}

/** RSA signing key with the public half as a JWK, the way Cognito publishes it. */
export interface SigningKey {
  kid: string
  privateKey: KeyObject
  jwk: Jwk
}

export function createSigningKey (kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } as Jwk
  return { kid, privateKey, jwk }
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** Encode a JWT and sign it with RS256, or leave the signature empty when `privateKey` is null. */
export function encodeJwt (header: object, payload: object, privateKey: KeyObject | null): string {
  const signingInput = `${base64url(header)}.${base64url(payload)}`
  if (privateKey === null) return `${signingInput}.`
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')}`
}

/** Current time in seconds, as JWT time claims count it. */
export function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/** Claims of a Cognito access token for `sub`, valid for an hour. */
export function accessClaims (sub: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds()
  return {
    sub,
    iss: ISSUER,
    client_id: CLIENT_ID,
    origin_jti: 'origin-jti-1',
    event_id: 'event-1',
    token_use: 'access',
    scope: 'aws.cognito.signin.user.admin',
    auth_time: now,
    iat: now,
    exp: now + 3600,
    jti: 'jti-1',
    username: sub,
    ...overrides,
  }
}

/** Claims of a Cognito id token for `sub`, valid for an hour. */
export function idClaims (sub: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds()
  return {
    sub,
    iss: ISSUER,
    aud: CLIENT_ID,
    token_use: 'id',
    auth_time: now,
    iat: now,
    exp: now + 3600,
    'cognito:username': sub,
    email: `${sub}@example.com`,
    ...overrides,
  }
}

/** Sign `claims` with `key` and the RS256 header Cognito uses. */
export function signToken (key: SigningKey, claims: object): string {
  return encodeJwt({ kid: key.kid, alg: 'RS256' }, claims, key.privateKey)
}

/** JWKS fetcher that never reaches the network. Every fetch rejects and is counted. */
export class RejectingFetcher {
  calls = 0

  async fetch (uri: string): Promise<ArrayBuffer> {
    this.calls += 1
    throw new Error(`network access is disabled in tests (requested ${uri})`)
  }
}

export interface CognitoVerifierSetup {
  verifier: TokenVerifier
  fetcher: RejectingFetcher
}

/**
 * Build the production Cognito verifier for `tokenUse` with `jwks` preloaded.
 * A kid that is not in `jwks` makes the verifier call the rejecting fetcher.
 */
export function createTestVerifier (tokenUse: 'access' | 'id', jwks: Jwks): CognitoVerifierSetup {
  const config = loadConfig(cognitoEnv(tokenUse))
  if (config.auth.mode !== 'cognito') throw new Error('expected AUTH_MODE=cognito in the test config')

  const fetcher = new RejectingFetcher()
  const verifier = createCognitoVerifier(config.auth, new SimpleJwksCache({ fetcher }))
  verifier.cacheJwks(jwks)
  return { verifier: cognitoTokenVerifier(verifier), fetcher }
}
