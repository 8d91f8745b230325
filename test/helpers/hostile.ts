import { connect } from 'node:net'
import { ScanCommand } from '@aws-sdk/lib-dynamodb'
import type { FastifyInstance } from 'fastify'
import { STATUS_BY_CODE } from '../../src/http-errors.js'
import { NOTE_ID_PATTERN } from '../../src/notes/schemas.js'
import { SYNC_STATE_SORT_KEY } from '../../src/storage/table.js'

/**
 * Settings for tests that send bursts of requests as one user: a rate limit
 * no test reaches, and load shedding off, so that every response comes from
 * the route and never from the abuse limits.
 */
export const BURST_SETTINGS = Object.freeze({ RATE_LIMIT_MAX: '1000000', MAX_EVENT_LOOP_DELAY_MS: '0' })

/** Error codes the README documents, each with its HTTP status. */
export const DOCUMENTED_CODES: ReadonlySet<string> = new Set(Object.keys(STATUS_BY_CODE))

export type StoredItem = Record<string, unknown>

/**
 * Quote a value for an assertion message with every character outside
 * printable ASCII escaped. JSON.stringify leaves U+2028 as it is, and one
 * in a message breaks tap's output.
 */
export function printable (value: unknown): string {
  const json = JSON.stringify(value) ?? String(value)
  return json.replace(/[^\u0020-\u007e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Read every item of the table with consistent scans. */
export async function scanTable (app: FastifyInstance, tableName: string): Promise<StoredItem[]> {
  const items: StoredItem[] = []
  let startKey: StoredItem | undefined
  do {
    const page = await app.store.documentClient.send(new ScanCommand({
      TableName: tableName,
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    }))
    items.push(...(page.Items ?? []))
    startKey = page.LastEvaluatedKey
  } while (startKey !== undefined)
  return items
}

/** Read the note items of the table, leaving out the sync-state items. */
export async function scanNotes (app: FastifyInstance, tableName: string): Promise<StoredItem[]> {
  const items = await scanTable(app, tableName)
  return items.filter((item) => item.noteId !== SYNC_STATE_SORT_KEY)
}

const NOTE_ID = new RegExp(NOTE_ID_PATTERN)
const NOTE_ATTRIBUTES = new Set([
  'userId', 'noteId', 'title', 'content', 'isDeleted', 'version', 'seq', 'updated', 'createdAt', 'expiresAt',
])
const SYNC_STATE_ATTRIBUTES = new Set(['userId', 'noteId', 'last'])

function isPositiveInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function isWellFormedString (value: unknown): value is string {
  return typeof value === 'string' && value.isWellFormed()
}

/** List what is wrong with one note item, as messages naming its key. */
function noteProblems (item: StoredItem): string[] {
  const key = `note ${JSON.stringify(item.userId)}/${JSON.stringify(item.noteId)}`
  const problems: string[] = []
  if (typeof item.noteId !== 'string' || !NOTE_ID.test(item.noteId)) problems.push(`${key}: noteId does not match ${NOTE_ID_PATTERN}`)
  if (!isWellFormedString(item.title)) problems.push(`${key}: title is not a well-formed string`)
  if (!isWellFormedString(item.content)) problems.push(`${key}: content is not a well-formed string`)
  if (typeof item.isDeleted !== 'boolean') problems.push(`${key}: isDeleted is not a boolean`)
  if (!isPositiveInteger(item.version)) problems.push(`${key}: version is not a positive integer`)
  if (!isPositiveInteger(item.seq)) problems.push(`${key}: seq is not a positive integer`)
  if (!isPositiveInteger(item.updated)) problems.push(`${key}: updated is not a positive integer`)
  if (!isPositiveInteger(item.createdAt)) problems.push(`${key}: createdAt is not a positive integer`)
  if ((item.createdAt as number) > (item.updated as number)) problems.push(`${key}: createdAt is after updated`)
  if (item.isDeleted === true && !isPositiveInteger(item.expiresAt)) problems.push(`${key}: tombstone has no expiresAt`)
  if (item.isDeleted === false && item.expiresAt !== undefined) problems.push(`${key}: live note has expiresAt`)
  for (const name of Object.keys(item)) {
    if (!NOTE_ATTRIBUTES.has(name)) problems.push(`${key}: unexpected attribute ${JSON.stringify(name)}`)
  }
  return problems
}

/**
 * List every broken invariant of a scanned table. It checks note items for
 * fields of the wrong type and unknown attributes, and sync-state items for
 * leftover write intents. It also checks that no two notes of a user share a
 * sequence number and that none is above the user's `last`. Returns an
 * empty list for a valid table.
 */
export function findInvalidItems (items: StoredItem[]): string[] {
  const problems: string[] = []
  const lastByUser = new Map<unknown, unknown>()
  const seqsByUser = new Map<unknown, Map<unknown, unknown>>()

  for (const item of items) {
    if (item.noteId === SYNC_STATE_SORT_KEY) {
      const key = `sync state of ${JSON.stringify(item.userId)}`
      if (!isPositiveInteger(item.last)) problems.push(`${key}: last is not a positive integer`)
      for (const name of Object.keys(item)) {
        if (!SYNC_STATE_ATTRIBUTES.has(name)) problems.push(`${key}: leftover attribute ${JSON.stringify(name)}`)
      }
      lastByUser.set(item.userId, item.last)
      continue
    }
    problems.push(...noteProblems(item))
    const seqs = seqsByUser.get(item.userId) ?? new Map<unknown, unknown>()
    seqsByUser.set(item.userId, seqs)
    const other = seqs.get(item.seq)
    if (other !== undefined) {
      problems.push(`user ${JSON.stringify(item.userId)}: notes ${JSON.stringify(other)} and ${JSON.stringify(item.noteId)} share seq ${String(item.seq)}`)
    }
    seqs.set(item.seq, item.noteId)
  }

  for (const [userId, seqs] of seqsByUser) {
    const last = lastByUser.get(userId)
    if (last === undefined) {
      problems.push(`user ${JSON.stringify(userId)}: notes but no sync state`)
      continue
    }
    for (const [seq, noteId] of seqs) {
      if ((seq as number) > (last as number)) {
        problems.push(`user ${JSON.stringify(userId)}: note ${JSON.stringify(noteId)} has seq ${String(seq)} above last ${String(last)}`)
      }
    }
  }
  return problems
}

export interface PulledNote {
  noteId: string
  title: string
  content: string
  isDeleted: boolean
  version: number
  updated: number
  createdAt: number
}

/** Pull a user's whole change feed from the beginning, following the cursor until hasMore is false. */
export async function pullAll (app: FastifyInstance, headers: Record<string, string>): Promise<PulledNote[]> {
  const notes: PulledNote[] = []
  let cursor: string | undefined
  for (;;) {
    const query = cursor === undefined ? 'limit=1000' : `limit=1000&cursor=${cursor}`
    const response = await app.inject({ method: 'GET', url: `/notes?${query}`, headers })
    if (response.statusCode !== 200) throw new Error(`GET /notes?${query} failed: ${response.statusCode} ${response.body}`)
    const page = response.json() as { notes: PulledNote[], cursor: string, hasMore: boolean }
    notes.push(...page.notes)
    if (!page.hasMore) return notes
    cursor = page.cursor
  }
}

/** Start the app on a free loopback port and return the port. The test's teardown closes the app. */
export async function listenOnLoopback (app: FastifyInstance): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error(`unexpected server address ${String(address)}`)
  return address.port
}

export interface RawResponse {
  statusCode: number
  /** Header values by lower-case name, with repeated headers joined by ", ". */
  headers: Record<string, string>
  body: string
}

/** Time after which sendRaw gives up on a server that neither responds nor closes, in milliseconds. */
const RAW_REQUEST_TIMEOUT_MS = 20_000

/**
 * Send bytes as they are over a new TCP connection to 127.0.0.1 and read
 * the response until the server closes the connection. Requests should carry
 * `Connection: close`. This reaches Node's HTTP parser, which inject()
 * bypasses, so it shows what a real client gets for duplicate or oversize
 * headers.
 */
export function sendRaw (port: number, request: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.setTimeout(RAW_REQUEST_TIMEOUT_MS, () => {
      socket.destroy(new Error(`no response within ${RAW_REQUEST_TIMEOUT_MS} ms`))
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      try {
        resolve(parseRawResponse(Buffer.concat(chunks)))
      } catch (err) {
        reject(err)
      }
    })
    // Write without ending, because Node may drop the response to a half-closed connection.
    socket.write(request)
  })
}

function parseRawResponse (bytes: Buffer): RawResponse {
  const text = bytes.toString('latin1')
  const headerEnd = text.indexOf('\r\n\r\n')
  if (headerEnd === -1) throw new Error(`connection closed without a complete response: ${JSON.stringify(text)}`)
  const [statusLine = '', ...headerLines] = text.slice(0, headerEnd).split('\r\n')
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)
  if (status === null) throw new Error(`invalid status line ${JSON.stringify(statusLine)}`)

  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }

  let body = bytes.subarray(Buffer.byteLength(text.slice(0, headerEnd + 4), 'latin1'))
  if (headers['transfer-encoding'] === 'chunked') body = decodeChunked(body)
  return { statusCode: Number(status[1]), headers, body: body.toString('utf8') }
}

function decodeChunked (bytes: Buffer): Buffer {
  const parts: Buffer[] = []
  let offset = 0
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', offset)
    const size = Number.parseInt(bytes.subarray(offset, lineEnd).toString('latin1'), 16)
    if (!(size > 0)) return Buffer.concat(parts)
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size))
    offset = lineEnd + 2 + size + 2
  }
}
