import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { RepositoryEvents } from '../notes/repository.js'

/** Prometheus metrics of one app instance, in a registry of its own. */
export class Metrics {
  readonly registry = new Registry()

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  })

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time to respond to an HTTP request, in seconds, by method, route and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })

  readonly dynamoCalls = new Counter({
    name: 'dynamodb_calls_total',
    help: 'DynamoDB calls by operation and outcome (ok, or the error name).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  })

  readonly conflicts = new Counter({
    name: 'notes_version_conflicts_total',
    help: 'Note writes rejected because the stored note was at another version.',
    registers: [this.registry],
  })

  readonly abandonedIntents = new Counter({
    name: 'notes_abandoned_intents_cleared_total',
    help: 'Write intents that timed out (a crashed server or an unanswered write) and were cleared.',
    registers: [this.registry],
  })

  constructor () {
    collectDefaultMetrics({ register: this.registry })
  }

  /** Return the repository's event sink, which feeds the note counters. */
  repositoryEvents (): RepositoryEvents {
    return {
      versionConflict: () => this.conflicts.inc(),
      abandonedIntentsCleared: (count) => this.abandonedIntents.inc(count),
    }
  }

  /** Count every call of `client` by operation and outcome; the SDK's retries of a call count as one call. */
  instrument (client: DynamoDBClient): void {
    client.middlewareStack.add((next, context) => async (args) => {
      // The SDK names every command it sends.
      const operation = context.commandName as string
      try {
        const result = await next(args)
        this.dynamoCalls.inc({ operation, outcome: 'ok' })
        return result
      } catch (err) {
        this.dynamoCalls.inc({ operation, outcome: (err as Error).name })
        throw err
      }
    }, { step: 'initialize', name: 'notesSyncMetrics' })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

/** Record every response and serve the registry at GET /metrics. */
async function metricsPlugin (app: FastifyInstance) {
  const metrics = new Metrics()
  app.decorate('metrics', metrics)

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL, so query strings cannot multiply series.
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    }
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
  })

  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    reply.type(metrics.registry.contentType)
    return metrics.registry.metrics()
  })
}

export default fp(metricsPlugin, { name: 'metrics', fastify: '5.x' })
