import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { LimitsConfig } from '../config.js'
import { InvalidRequestError } from '../errors.js'
import { registerUserRateLimit } from '../protection.js'
import { decodeCursor, encodeCursor, type Cursor } from './cursor.js'
import type { NotesRepository } from './repository.js'
import {
  ConflictResponse,
  DEFAULT_PAGE_SIZE,
  ErrorResponse,
  MAX_PAGE_SIZE,
  Note,
  NoteInput,
  PullQuery,
  PullResponse,
  withDefaults,
  type NoteWrite,
} from './schemas.js'

export interface NotesRoutesOptions {
  repository: NotesRepository
  limits: LimitsConfig
}

const errorResponses = {
  400: ErrorResponse,
  401: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
}

/** POST /notes and GET /notes, each behind bearer-token authentication. */
export const notesRoutes: FastifyPluginAsyncTypebox<NotesRoutesOptions> = async (app, { repository, limits }) => {

  // onRequest, not preHandler: a request without a valid token is rejected
  // before its body is read, parsed or validated.
  app.addHook('onRequest', app.authenticate)
  await registerUserRateLimit(app, limits)

  app.post('/notes', {
    schema: {
      summary: 'Create or replace one note',
      description: 'With `version`, the write applies only if the stored note is at that version (0: only if it ' +
        'does not exist); otherwise 409 with the stored note in `current`. Without it, the last write wins.',
      tags: ['notes'],
      security: [{ bearerAuth: [] }],
      body: NoteInput,
      response: { 200: Note, 201: Note, 409: ConflictResponse, ...errorResponses },
    },
  }, async (request, reply) => {
    const note = withDefaults(request.body)
    assertWellFormedText(note)

    const result = await repository.put(request.userId, note, request.log)

    reply.code(result.created ? 201 : 200)
    return result.note
  })

  app.get('/notes', {
    schema: {
      summary: 'Pull changes since a cursor',
      description: 'Returns changes in order. Call again with the returned cursor while `hasMore` is true. ' +
        '`lastUpdated` (or `updated`) pulls notes updated after a time instead.',
      tags: ['notes'],
      security: [{ bearerAuth: [] }],
      querystring: PullQuery,
      response: { 200: PullResponse, ...errorResponses },
    },
  }, async (request) => {
    const { userId } = request
    const limit = parseLimit(request.query.limit)
    const cursor = parsePullPosition(userId, request.query)

    if (cursor.kind === 'seq') {
      const page = await repository.changesSince(userId, cursor.seq, limit)
      return {
        notes: page.notes,
        cursor: encodeCursor(userId, { kind: 'seq', seq: page.position }),
        hasMore: page.hasMore,
      }
    }

    const page = await repository.updatedSince(userId, cursor, limit)
    return {
      notes: page.notes,
      cursor: encodeCursor(userId, { kind: 'updated', ...(page.position ?? cursor) }),
      hasMore: page.hasMore,
    }
  })
}

function parseLimit (text: string | undefined): number {
  if (text === undefined) return DEFAULT_PAGE_SIZE
  const limit = Number(text)
  if (limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidRequestError(`Invalid querystring: "limit" is ${text}; it must be an integer from 1 to ${MAX_PAGE_SIZE}.`)
  }
  return limit
}

/**
 * Read where a pull starts: a cursor of either form, a `lastUpdated` time
 * (also spelled `updated`), or the start of the change feed.
 */
function parsePullPosition (userId: string, query: PullQuery): Cursor {
  const positions = [query.cursor, query.lastUpdated, query.updated].filter((value) => value !== undefined)
  if (positions.length > 1) {
    throw new InvalidRequestError(
      'Invalid querystring: send only one of "cursor", "lastUpdated" and "updated".',
    )
  }
  if (query.cursor !== undefined) return decodeCursor(userId, query.cursor)

  const name = query.lastUpdated === undefined ? 'updated' : 'lastUpdated'
  const time = query.lastUpdated ?? query.updated
  if (time === undefined) return { kind: 'seq', seq: 0 }
  const updated = Number(time)
  if (!Number.isSafeInteger(updated)) {
    throw new InvalidRequestError(
      `Invalid querystring: "${name}" is ${time}, beyond the largest safe integer; send epoch milliseconds.`,
    )
  }
  return { kind: 'updated', updated }
}

/**
 * Reject strings with lone UTF-16 surrogates. JSON allows them, but UTF-8
 * cannot encode them, so DynamoDB would store U+FFFD in their place.
 */
function assertWellFormedText (note: NoteWrite): void {
  for (const field of ['title', 'content'] as const) {
    if (!note[field].isWellFormed()) {
      throw new InvalidRequestError(
        `Invalid body: "${field}" contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape); ` +
        'send valid Unicode text.',
        'INVALID_TEXT',
      )
    }
  }
}
