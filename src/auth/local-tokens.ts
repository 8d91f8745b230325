import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'

/** Options of @fastify/jwt for AUTH_MODE=local: HS256 only, `sub` and `exp` required. */
export function localJwtOptions (secret: string) {
  return {
    secret,
    sign: { algorithm: 'HS256' as const },
    verify: { algorithms: ['HS256' as const], requiredClaims: ['sub', 'exp'] },
  }
}

/** Sign a local development token for `sub`, valid for `expiresInSeconds`. */
export async function signLocalToken (secret: string, sub: string, expiresInSeconds: number): Promise<string> {
  const app = Fastify({ logger: false })
  await app.register(fastifyJwt, localJwtOptions(secret))
  await app.ready()
  try {
    // @fastify/jwt reads a number as seconds.
    return app.jwt.sign({ sub }, { expiresIn: expiresInSeconds })
  } finally {
    await app.close()
  }
}
