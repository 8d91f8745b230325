import { createHash } from 'node:crypto'
import { InvalidRequestError } from '../errors.js'

/**
 * Opaque pull cursors. A change-feed cursor stores the last sequence number
 * the client has applied. A timestamp cursor stores a position in the
 * (updated, noteId) order of the timestamp form. It has no noteId when the
 * next pull starts strictly after a time. Both carry a short hash of
 * the owner so that a cursor sent by another user is rejected, not silently
 * read as a position in this user's feed.
 */
export type Cursor =
  | { kind: 'seq', seq: number }
  | { kind: 'updated', updated: number, noteId?: string | undefined }

interface CursorWire {
  v: 1
  u: string
  s?: number
  t?: number
  n?: string
}

function ownerTag (userId: string): string {
  return createHash('sha256').update(userId).digest('base64url').slice(0, 10)
}

export function encodeCursor (userId: string, cursor: Cursor): string {
  const wire: CursorWire = cursor.kind === 'seq'
    ? { v: 1, u: ownerTag(userId), s: cursor.seq }
    : { v: 1, u: ownerTag(userId), t: cursor.updated, ...(cursor.noteId === undefined ? {} : { n: cursor.noteId }) }
  return Buffer.from(JSON.stringify(wire)).toString('base64url')
}

const INVALID = 'Invalid cursor: it is not a cursor of this user\'s change feed; ' +
  'send a cursor from a previous GET /notes response, or none to pull from the beginning.'

/** Decode a cursor from a request. Throws INVALID_CURSOR on anything else. */
export function decodeCursor (userId: string, text: string): Cursor {
  let wire: unknown
  try {
    wire = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    throw new InvalidRequestError(INVALID, 'INVALID_CURSOR')
  }
  if (typeof wire !== 'object' || wire === null) throw new InvalidRequestError(INVALID, 'INVALID_CURSOR')

  const { v, u, s, t, n } = wire as Partial<CursorWire>
  if (v !== 1 || u !== ownerTag(userId)) throw new InvalidRequestError(INVALID, 'INVALID_CURSOR')
  if (isPosition(s) && t === undefined && n === undefined) return { kind: 'seq', seq: s }
  if (isPosition(t) && s === undefined && n === undefined) return { kind: 'updated', updated: t }
  if (isPosition(t) && s === undefined && typeof n === 'string' && n.length > 0) {
    return { kind: 'updated', updated: t, noteId: n }
  }
  throw new InvalidRequestError(INVALID, 'INVALID_CURSOR')
}

function isPosition (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}
