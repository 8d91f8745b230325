import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { FetchError, JwksValidationError } from 'aws-jwt-verify/error'
import { AuthUnavailableError, UnauthorizedError } from '../errors.js'
import { resolveLocalSecret } from './local-secret.js'
import { localJwtOptions } from './local-tokens.js'
import { cognitoTokenVerifier, createCognitoVerifier, type TokenVerifier } from './verifiers.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Owner of every note the request reads or writes: the token's `sub`. */
    userId: string
  }
  interface FastifyInstance {
    /** Hook that rejects a request without a valid bearer token. */
    authenticate (request: FastifyRequest): Promise<void>
  }
}

export interface AuthPluginOptions {
  config: Config
  /** Verifier to use in place of the one built from config (tests pass a Cognito verifier with local keys). */
  verifier?: TokenVerifier | undefined
}

/** Longest `sub` accepted; Cognito's are 36-character UUIDs. */
const MAX_SUBJECT_LENGTH = 256
/** The auth scheme is case-insensitive (RFC 7235); the token is one run of token68 characters. */
const BEARER = /^bearer ([A-Za-z0-9._~+/=-]+)$/i

async function authPlugin (app: FastifyInstance, options: AuthPluginOptions) {
  const verifier = options.verifier ?? await buildVerifier(app, options.config)

  app.decorateRequest('userId', '')
  app.decorate('authenticate', async (request: FastifyRequest) => {
    const header = request.headers.authorization
    if (header === undefined) throw new UnauthorizedError('no Authorization header')
    // Node keeps only the first of several Authorization lines.
    if (countHeader(request.raw.rawHeaders, 'authorization') > 1) {
      throw new UnauthorizedError('more than one Authorization header')
    }
    const match = BEARER.exec(header)
    if (match === null) throw new UnauthorizedError('Authorization header is not "Bearer <token>"')

    let sub: string
    try {
      sub = (await verifier.verify(match[1] as string)).sub
    } catch (err) {
      // A failed fetch, or a response that is not a key set, is the
      // identity provider's failure, not the client's.
      if (err instanceof FetchError || err instanceof JwksValidationError) {
        request.log.warn({ err }, 'fetching the signing keys of the identity provider failed')
        throw new AuthUnavailableError({ cause: err })
      }
      throw new UnauthorizedError(`token rejected: ${(err as Error).message}`)
    }
    if (sub.length === 0 || sub.length > MAX_SUBJECT_LENGTH) {
      throw new UnauthorizedError(`sub claim has ${sub.length} characters, outside 1-${MAX_SUBJECT_LENGTH}`)
    }
    // DynamoDB would store a lone surrogate as U+FFFD, merging distinct owners.
    if (!sub.isWellFormed()) throw new UnauthorizedError('sub claim is not well-formed Unicode')
    request.userId = sub
  })
}

function countHeader (rawHeaders: string[], name: string): number {
  let count = 0
  for (let index = 0; index < rawHeaders.length; index += 2) {
    if (rawHeaders[index]?.toLowerCase() === name) count++
  }
  return count
}

async function buildVerifier (app: FastifyInstance, config: Config): Promise<TokenVerifier> {
  if (config.auth.mode === 'cognito') {
    return cognitoTokenVerifier(createCognitoVerifier(config.auth))
  }

  await app.register(fastifyJwt, localJwtOptions(await resolveLocalSecret(config)))
  return {
    async verify (token) {
      const payload = app.jwt.verify<{ sub?: unknown }>(token)
      if (typeof payload.sub !== 'string') throw new Error('sub claim is not a string')
      return { sub: payload.sub }
    },
  }
}

export default fp(authPlugin, { name: 'auth', fastify: '5.x' })
