import { STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  NotesSyncError,
  UnauthorizedError,
  VersionConflictError,
  type ErrorCode,
} from './errors.js'

/** HTTP status of each error code; the one place where errors meet HTTP. */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_JSON: 400,
  INVALID_CURSOR: 400,
  INVALID_TEXT: 400,
  UNAUTHORIZED: 401,
  AUTH_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  VERSION_CONFLICT: 409,
  BODY_TOO_LARGE: 413,
  NOTE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  OVERLOADED: 503,
  SHUTTING_DOWN: 503,
  STORE_THROTTLED: 503,
  STORE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
}

interface HttpError {
  code: ErrorCode
  /** Status other than STATUS_BY_CODE[code], for 4xx errors of plugins such as @fastify/static. */
  statusCode?: number
  message: string
  headers?: Record<string, string>
  extra?: Record<string, unknown>
}

/** Fastify's own request errors, by their FST_ code. */
const FASTIFY_ERRORS: Record<string, (error: FastifyError) => HttpError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => ({
    code: 'BODY_TOO_LARGE',
    message: 'The request body is larger than the server accepts; a note must fit in 400 KB as stored.',
  }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (error) => ({
    code: 'UNSUPPORTED_MEDIA_TYPE',
    // Fastify's message names the type it received.
    message: `${error.message}; send the body as application/json.`,
  }),
}

/** Convert any error raised while serving a request to the error response the client receives. */
export function toHttpError (error: unknown, requestId: string): HttpError {
  if (error instanceof VersionConflictError) {
    return { code: error.code, message: error.message, extra: { current: error.current } }
  }
  if (error instanceof UnauthorizedError) {
    return { code: error.code, message: error.message, headers: { 'www-authenticate': 'Bearer' } }
  }
  if (error instanceof NotesSyncError) {
    return error.retryAfterSeconds === undefined
      ? { code: error.code, message: error.message }
      : { code: error.code, message: error.message, headers: { 'retry-after': String(error.retryAfterSeconds) } }
  }

  const fastifyError = error as FastifyError
  if (fastifyError.validation !== undefined) {
    return { code: 'INVALID_REQUEST', message: validationMessage(fastifyError) }
  }
  const mapper = FASTIFY_ERRORS[fastifyError.code]
  if (mapper !== undefined) return mapper(fastifyError)
  const status = fastifyError.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    // A client error raised by a plugin (for example a Range header that
    // @fastify/static cannot satisfy): its status and message are safe to show.
    return { code: status === 404 ? 'NOT_FOUND' : 'INVALID_REQUEST', statusCode: status, message: `${fastifyError.message}.` }
  }
  return {
    code: 'INTERNAL_ERROR',
    message: `Internal server error; retry later, and report request id ${requestId} if it persists.`,
  }
}

/** Describe the first validation failure with the field's name and what it accepts. */
function validationMessage (error: FastifyError): string {
  // Fastify sets validation and validationContext together, with at least
  // one Ajv error, and Ajv gives every error a message.
  const first = (error.validation as NonNullable<FastifyError['validation']>)[0] as { instancePath: string, message: string, params: Record<string, unknown> }
  const part = error.validationContext as string

  const missing = first.params.missingProperty as string | undefined
  const field = missing ?? first.instancePath.replace(/^\//, '').replaceAll('/', '.')
  if (field === '') return `Invalid ${part}: it ${first.message}; send a JSON object.`
  // Every field of the request schemas has a hint; a test checks it.
  if (missing !== undefined) return `Invalid ${part}: "${field}" is missing; ${FIELD_HINTS[field] as string}.`
  return `Invalid ${part}: "${field}" ${first.message}; ${FIELD_HINTS[field] as string}.`
}

export const FIELD_HINTS: Record<string, string> = {
  noteId: 'it must be 1 to 128 letters, digits, "-", "_", "." or ":"',
  title: 'it must be a string',
  content: 'it must be a string',
  isDeleted: 'it must be true or false',
  version: 'it must be the integer version of the stored note, or 0 to create a new note',
  limit: 'it must be an integer from 1 to 1000',
  cursor: 'it must be a cursor from a previous response',
  lastUpdated: 'it must be epoch milliseconds as a non-negative integer',
  updated: 'it must be epoch milliseconds as a non-negative integer',
}

/**
 * Respond to errors Fastify raises before routing, such as a malformed
 * percent-encoding in the URL, in the same shape as every other error.
 */
export function respondToFrameworkError (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const statusCode = 400
  request.log.info({ code: 'INVALID_REQUEST', reason: error.message }, 'request rejected before routing')
  void reply
    .code(statusCode)
    .header('x-request-id', request.id)
    .header('x-content-type-options', 'nosniff')
    .send({
      statusCode,
      error: STATUS_CODES[statusCode],
      message: `Invalid URL ${JSON.stringify(request.url)}: ${error.message}; percent-encode the path and query correctly.`,
      code: 'INVALID_REQUEST',
    })
}

/** Register the error handler and the not-found handler. */
export function registerErrorHandlers (app: FastifyInstance): void {
  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const httpError = toHttpError(error, request.id)
    const statusCode = httpError.statusCode ?? STATUS_BY_CODE[httpError.code]

    if (statusCode >= 500) {
      request.log.error({ err: error, code: httpError.code }, 'request failed')
    } else if (error instanceof UnauthorizedError) {
      request.log.info({ code: httpError.code, reason: error.reason }, 'authentication failed')
    } else {
      request.log.info({ code: httpError.code, reason: httpError.message }, 'request rejected')
    }

    return reply
      .code(statusCode)
      .headers(httpError.headers ?? {})
      .send({
        statusCode,
        error: STATUS_CODES[statusCode],
        message: httpError.message,
        code: httpError.code,
        ...httpError.extra,
      })
  })

  app.setNotFoundHandler((request, reply) => {
    request.log.info({ method: request.method, url: request.url }, 'route not found')
    return reply.code(404).send({
      statusCode: 404,
      error: STATUS_CODES[404],
      message: `Route ${request.method} ${request.url.split('?')[0]} not found; ` +
        'the API serves GET and POST /notes, GET /health, GET /ready, GET /docs and GET /metrics.',
      code: 'NOT_FOUND',
    })
  })
}
