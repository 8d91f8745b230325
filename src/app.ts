import { randomUUID } from 'node:crypto'
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import authPlugin from './auth/plugin.js'
import type { TokenVerifier } from './auth/verifiers.js'
import type { Config } from './config.js'
import { registerErrorHandlers, respondToFrameworkError } from './http-errors.js'
import { registerJsonParser } from './json-body.js'
import { MAX_ITEM_BYTES } from './notes/item-size.js'
import { NotesRepository, type RepositoryOptions } from './notes/repository.js'
import { notesRoutes } from './notes/routes.js'
import { ErrorResponse, HealthResponse } from './notes/schemas.js'
import metricsPlugin from './observability/metrics.js'
import openapiPlugin from './observability/openapi.js'
import protectionPlugin from './protection.js'
import storePlugin from './storage/plugin.js'

/**
 * Largest request body read. JSON escaping makes a quote, backslash or
 * newline two bytes long, so twice the item limit lets every note that fits
 * in DynamoDB through, except text dense with other control characters,
 * which JSON escapes to six bytes each.
 */
export const BODY_LIMIT_BYTES = 2 * MAX_ITEM_BYTES

/**
 * Socket timeouts of the HTTP server, in milliseconds. Keep-alive stays open
 * longer than the 60 s idle timeout of AWS load balancers, so the balancer,
 * not this server, closes idle connections and never sends a request into a
 * socket the server is closing.
 */
export const SERVER_TIMEOUTS = Object.freeze({
  keepAliveTimeoutMs: 65_000,
  headersTimeoutMs: 66_000,
})

/** Collaborators a test can replace; production builds all of them from config. */
export interface AppDependencies {
  verifier?: TokenVerifier
  clientOverrides?: Partial<DynamoDBClientConfig>
  repositoryOptions?: RepositoryOptions
  logger?: FastifyServerOptions['logger']
}

/** Build the application with its plugins and routes; the caller listens. */
export async function buildApp (config: Config, dependencies: AppDependencies = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: dependencies.logger ?? {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
    bodyLimit: BODY_LIMIT_BYTES,
    keepAliveTimeout: SERVER_TIMEOUTS.keepAliveTimeoutMs,
    requestTimeout: config.limits.requestTimeoutMs,
    // One line per request from registerRequestLogging instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: false,
    // A client's x-request-id is used when it is a short token, else a new id.
    requestIdHeader: false,
    genReqId: (request) => {
      const clientId = request.headers['x-request-id']
      return typeof clientId === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(clientId) ? clientId : randomUUID()
    },
    frameworkErrors: respondToFrameworkError,
    ajv: {
      customOptions: {
        // A null title is an error, never "". Query numbers are parsed by the routes.
        coerceTypes: false,
        removeAdditional: true,
        useDefaults: true,
        allErrors: false,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.server.headersTimeout = SERVER_TIMEOUTS.headersTimeoutMs

  // JSON only: text/plain, forms and anything else get 415.
  app.removeContentTypeParser('text/plain')
  registerJsonParser(app)

  // Requests that arrive while the server drains are still served; only
  // /ready reports 503, so the load balancer stops sending new ones.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  const isClosing = () => closing

  registerErrorHandlers(app)
  registerRequestLogging(app, isClosing)

  await app.register(protectionPlugin, config.limits)
  await app.register(metricsPlugin)
  await app.register(openapiPlugin)
  await app.register(storePlugin, { config, clientOverrides: dependencies.clientOverrides })
  app.metrics.instrument(app.store.client)
  await app.register(authPlugin, { config, verifier: dependencies.verifier })

  const repository = new NotesRepository(app.store.documentClient, config.tableName, {
    ...dependencies.repositoryOptions,
    events: app.metrics.repositoryEvents(),
  })
  await app.register(notesRoutes, { repository, limits: config.limits })
  await app.register(healthRoutes, { isClosing })

  return app
}

/**
 * Log one line per response, 5xx at error and everything else at info, and
 * tag responses with their request id. Once the server is closing, every
 * response also closes its connection: a keep-alive connection that was busy
 * when closing began would otherwise stay open until keepAliveTimeout and
 * hold up the shutdown.
 */
function registerRequestLogging (app: FastifyInstance, isClosing: () => boolean): void {
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
    if (isClosing()) reply.header('connection', 'close')
  })
  app.addHook('onResponse', async (request, reply) => {
    const entry = {
      method: request.method,
      // The path without the query string, which could carry a token.
      path: request.url.split('?')[0],
      statusCode: reply.statusCode,
      responseTimeMs: Math.round(reply.elapsedTime),
      userId: request.userId === '' ? undefined : request.userId,
    }
    if (reply.statusCode >= 500) request.log.error(entry, 'request completed')
    else request.log.info(entry, 'request completed')
  })
}

async function healthRoutes (app: FastifyInstance, { isClosing }: { isClosing: () => boolean }): Promise<void> {
  app.get('/health', {
    // Liveness must hold under load, or the orchestrator would restart a busy task.
    config: { pressureHandler: () => undefined },
    schema: { summary: 'Liveness: the process is up', tags: ['health'], response: { 200: HealthResponse } },
  }, async () => ({ status: 'ok' }))

  app.get('/ready', {
    schema: {
      summary: 'Readiness: the notes table is reachable',
      tags: ['health'],
      response: { 200: HealthResponse, 503: ErrorResponse },
    },
  }, async (request, reply) => {
    if (isClosing()) {
      return reply.code(503).header('retry-after', '5').send({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'The server is shutting down; send requests to another instance.',
        code: 'SHUTTING_DOWN',
      })
    }
    if (await app.store.isReachable(request.log)) return { status: 'ready' }
    return reply.code(503).header('retry-after', '5').send({
      statusCode: 503,
      error: 'Service Unavailable',
      message: `The notes table "${app.store.tableName}" is not reachable; check the database and retry.`,
      code: 'STORE_UNAVAILABLE',
    })
  })
}
