import type { Note } from './notes/schemas.js'

/**
 * Stable error codes a client can branch on. The HTTP status of each code is
 * set in one place, the error handler in http-errors.ts, so that the
 * repository and the auth code stay free of HTTP.
 */
export type ErrorCode =
  | 'INVALID_REQUEST'
  | 'INVALID_JSON'
  | 'INVALID_CURSOR'
  | 'INVALID_TEXT'
  | 'UNAUTHORIZED'
  | 'AUTH_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'VERSION_CONFLICT'
  | 'BODY_TOO_LARGE'
  | 'NOTE_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'OVERLOADED'
  | 'SHUTTING_DOWN'
  | 'STORE_THROTTLED'
  | 'STORE_UNAVAILABLE'
  | 'INTERNAL_ERROR'

/** Base of every error this service raises on purpose. */
export class NotesSyncError extends Error {
  readonly code: ErrorCode
  /** Seconds after which a retry may succeed, sent as Retry-After; undefined when a retry cannot help. */
  readonly retryAfterSeconds: number | undefined

  constructor (code: ErrorCode, message: string, options?: ErrorOptions & { retryAfterSeconds?: number }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.retryAfterSeconds = options?.retryAfterSeconds
  }
}

/** A request that is well formed JSON but not a valid request. */
export class InvalidRequestError extends NotesSyncError {
  constructor (message: string, code: ErrorCode = 'INVALID_REQUEST') {
    super(code, message)
  }
}

/**
 * A missing or invalid bearer token. The message is the same for every
 * reason, and the reason itself goes to the log only.
 */
export class UnauthorizedError extends NotesSyncError {
  readonly reason: string

  constructor (reason: string) {
    super('UNAUTHORIZED', 'Missing or invalid bearer token; sign in again and send "Authorization: Bearer <token>".')
    this.reason = reason
  }
}

/**
 * The identity provider's signing keys could not be fetched, so a token
 * signed with a key not cached yet cannot be checked now.
 */
export class AuthUnavailableError extends NotesSyncError {
  constructor (options?: ErrorOptions) {
    super(
      'AUTH_UNAVAILABLE',
      'The signing keys of the identity provider could not be fetched to verify the token; retry after the Retry-After delay.',
      { ...options, retryAfterSeconds: 5 },
    )
  }
}

/** A conditional write found the note at another version than expected. */
export class VersionConflictError extends NotesSyncError {
  /** The stored note, or null when the note does not exist. */
  readonly current: Note | null

  constructor (noteId: string, expectedVersion: number, current: Note | null) {
    super(
      'VERSION_CONFLICT',
      current === null
        ? `Note "${noteId}" was expected at version ${expectedVersion} but it does not exist; push it without a version, or with version 0, to create it.`
        : `Note "${noteId}" was expected at version ${expectedVersion} but it is at version ${current.version}; ` +
          'merge with the note in "current" and retry with its version.',
    )
    this.current = current
  }
}

/** A note whose stored item would exceed DynamoDB's item size limit. */
export class NoteTooLargeError extends NotesSyncError {
  constructor (noteId: string, itemBytes: number, maxBytes: number) {
    super(
      'NOTE_TOO_LARGE',
      `Note "${noteId}" would take ${itemBytes} bytes as a stored item, over the limit of ${maxBytes} bytes ` +
      '(UTF-8); shorten its title or content.',
    )
  }
}

/**
 * The store cannot serve the request now: throttled, unreachable or timed
 * out. Clients retry after `retryAfterSeconds`.
 */
export class StoreUnavailableError extends NotesSyncError {
  constructor (code: 'STORE_THROTTLED' | 'STORE_UNAVAILABLE', message: string, options?: ErrorOptions) {
    super(code, message, { ...options, retryAfterSeconds: code === 'STORE_THROTTLED' ? 1 : 5 })
  }
}

/** A user sent more requests than the rate limit allows in its window. */
export class RateLimitedError extends NotesSyncError {
  constructor (max: number, windowSeconds: number, retryAfterSeconds: number) {
    super(
      'RATE_LIMITED',
      `Rate limit of ${max} requests per ${windowSeconds} s exceeded; retry after ${retryAfterSeconds} s.`,
      { retryAfterSeconds },
    )
  }
}

/** The server sheds load because its event loop is delayed. */
export class OverloadedError extends NotesSyncError {
  constructor () {
    super('OVERLOADED', 'The server is overloaded; retry after the Retry-After delay.', { retryAfterSeconds: 2 })
  }
}
