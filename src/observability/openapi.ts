import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Path of the browsable API page; the document itself is at /docs/json. */
export const DOCS_PREFIX = '/docs'

/**
 * Generate an OpenAPI 3 document from the route schemas and serve it with
 * Swagger UI. Register it before the routes it describes.
 */
async function openapiPlugin (app: FastifyInstance) {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'notes-sync',
        description: 'Push notes with POST /notes and pull every change since the last sync with GET /notes.',
        version: '0.1.0',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
    },
  })
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX, staticCSP: true })
}

export default fp(openapiPlugin, { name: 'openapi', fastify: '5.x' })
