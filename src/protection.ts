import fastifyCors from '@fastify/cors'
import fastifyHelmet from '@fastify/helmet'
import fastifyRateLimit from '@fastify/rate-limit'
import fastifyUnderPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { LimitsConfig } from './config.js'
import { OverloadedError, RateLimitedError } from './errors.js'

/** Headers a browser client may send and read across origins. */
const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'x-request-id']
const CORS_EXPOSED_HEADERS = ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']

/**
 * Register the abuse limits of the whole app: security headers, the CORS
 * allowlist and load shedding. The per-user rate limit is registered by the
 * routes it covers, with registerUserRateLimit().
 */
async function protectionPlugin (app: FastifyInstance, limits: LimitsConfig) {
  await app.register(fastifyHelmet, { global: true })

  if (limits.corsOrigins.length > 0) {
    await app.register(fastifyCors, {
      origin: [...limits.corsOrigins],
      methods: ['GET', 'POST'],
      allowedHeaders: CORS_ALLOWED_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
    })
  }

  if (limits.maxEventLoopDelayMs > 0) {
    await app.register(fastifyUnderPressure, {
      maxEventLoopDelay: limits.maxEventLoopDelayMs,
      pressureHandler: (request, reply, type, value) => {
        request.log.warn({ type, value }, 'request shed: server overloaded')
        throw new OverloadedError()
      },
    })
  }
}

/**
 * Limit every route of the calling plugin's scope to `rateLimitMax`
 * requests per user and window, all routes counting against one budget.
 * Register it after the onRequest hook that authenticates, because it
 * keys on request.userId; it runs before the body is parsed.
 */
export async function registerUserRateLimit (app: FastifyInstance, limits: LimitsConfig): Promise<void> {
  const windowSeconds = limits.rateLimitWindowMs / 1000
  await app.register(fastifyRateLimit, {
    global: true,
    max: limits.rateLimitMax,
    timeWindow: limits.rateLimitWindowMs,
    hook: 'preParsing',
    keyGenerator: (request) => request.userId,
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(limits.rateLimitMax, windowSeconds, Math.max(1, Math.ceil(context.ttl / 1000))),
  })
}

export default fp(protectionPlugin, { name: 'protection', fastify: '5.x' })
