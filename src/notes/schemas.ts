import { Type, type Static } from 'typebox'

/** Letters, digits, `-`, `_`, `.` and `:`; never `#`, which the sync-state item uses. */
export const NOTE_ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$'
export const MAX_PAGE_SIZE = 1000
export const DEFAULT_PAGE_SIZE = 100

/** Values of the fields a push leaves out: a push replaces the whole note. */
export const NOTE_DEFAULTS = Object.freeze({ title: '', content: '', isDeleted: false })

export const NoteInput = Type.Object({
  noteId: Type.String({ pattern: NOTE_ID_PATTERN }),
  title: Type.Optional(Type.String({ default: NOTE_DEFAULTS.title })),
  content: Type.Optional(Type.String({ default: NOTE_DEFAULTS.content })),
  isDeleted: Type.Optional(Type.Boolean({ default: NOTE_DEFAULTS.isDeleted })),
  version: Type.Optional(Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Version the edit is based on; 0 creates the note only if it does not exist',
  })),
}, { additionalProperties: false })

/** A push as the client sent it. */
export type NoteInput = Static<typeof NoteInput>

/** A push with every field filled in, as the repository writes it. */
export type NoteWrite = Required<Omit<NoteInput, 'version'>> & Pick<NoteInput, 'version'>

export function withDefaults (input: NoteInput): NoteWrite {
  return { ...NOTE_DEFAULTS, ...input } as NoteWrite
}

export const Note = Type.Object({
  noteId: Type.String(),
  title: Type.String(),
  content: Type.String(),
  isDeleted: Type.Boolean(),
  version: Type.Integer(),
  updated: Type.Integer({ description: 'Server time of the last write, epoch milliseconds' }),
  createdAt: Type.Integer({ description: 'Server time of the first write, epoch milliseconds' }),
})

export type Note = Static<typeof Note>

/**
 * Query strings are validated as strings, because type coercion is off, and
 * parsed by the route, so "1e3", "0x10" or "" never pass as numbers.
 */
export const PullQuery = Type.Object({
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })),
  lastUpdated: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })),
  updated: Type.Optional(Type.String({ pattern: '^[0-9]{1,16}$' })),
}, { additionalProperties: false })

export type PullQuery = Static<typeof PullQuery>

export const PullResponse = Type.Object({
  notes: Type.Array(Note),
  cursor: Type.String(),
  hasMore: Type.Boolean(),
})

export const HealthResponse = Type.Object({ status: Type.String() })

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  code: Type.String(),
})

export const ConflictResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  code: Type.String(),
  current: Type.Union([Note, Type.Null()]),
})
