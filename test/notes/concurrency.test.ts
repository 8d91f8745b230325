import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { decodeCursor } from '../../src/notes/cursor.js'
import type { Note } from '../../src/notes/schemas.js'
import { SORT_KEY } from '../../src/storage/table.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'

/**
 * Seed of the randomized rounds. Set NOTES_SYNC_SEED to replay the choices
 * of a failed run. The interleaving of concurrent requests depends on
 * timing, so a replay repeats the operations but not always their order.
 */
const seed = Number(process.env.NOTES_SYNC_SEED ?? Math.floor(Math.random() * 2 ** 32))
const ROUNDS = 20

/**
 * The rounds send hundreds of requests per user within seconds, and this
 * file tests sync, not abuse limits, so the per-user rate limit is raised
 * and load shedding is off.
 */
const UNLIMITED = { RATE_LIMIT_MAX: '1000000', MAX_EVENT_LOOP_DELAY_MS: '0' }

/** mulberry32: a small seeded PRNG with uniform output in [0, 1). */
function createRandom (initialSeed: number) {
  let state = initialSeed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 15), z | 1)
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61)
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32
  }
  return {
    next,
    /** Integer from `min` to `max`, both included. */
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    chance: (probability: number) => next() < probability,
  }
}

type Random = ReturnType<typeof createRandom>

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function push (app: FastifyInstance, userId: string, payload: object) {
  return app.inject({ method: 'POST', url: '/notes', headers: await authHeaders(userId), payload })
}

async function pull (app: FastifyInstance, userId: string, cursor?: string, limit?: number) {
  const query = new URLSearchParams()
  if (cursor !== undefined) query.set('cursor', cursor)
  if (limit !== undefined) query.set('limit', String(limit))
  const search = query.size === 0 ? '' : `?${query.toString()}`
  return app.inject({ method: 'GET', url: `/notes${search}`, headers: await authHeaders(userId) })
}

function cursorSeq (userId: string, cursor: string): number {
  const decoded = decodeCursor(userId, cursor)
  return decoded.kind === 'seq' ? decoded.seq : Number.NaN
}

const byNoteId = (a: Note, b: Note) => a.noteId.localeCompare(b.noteId)

/** Pull a user's whole change feed from the start. */
async function fullPull (app: FastifyInstance, userId: string): Promise<Note[]> {
  const notes: Note[] = []
  let cursor: string | undefined
  for (;;) {
    const response = await pull(app, userId, cursor, 1000)
    const body = response.json() as { notes: Note[], cursor: string, hasMore: boolean }
    notes.push(...body.notes)
    cursor = body.cursor
    if (!body.hasMore) return notes.sort(byNoteId)
  }
}

/**
 * Add middleware to the app's DynamoDB client that delays the UpdateItem of
 * one note, after its sequence number is reserved, until `release` is called.
 */
function holdNoteWrite (app: FastifyInstance, noteId: string) {
  let markReached = () => {}
  const reached = new Promise<void>((resolve) => { markReached = resolve })
  let release = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  app.store.client.middlewareStack.add((next, context) => async (args) => {
    const input = args.input as { Key?: Record<string, unknown> }
    if (context.commandName === 'UpdateItemCommand' && input.Key?.[SORT_KEY] === noteId) {
      markReached()
      await released
    }
    return next(args)
  }, { step: 'initialize', name: 'holdNoteWrite' })
  return { reached, release }
}

t.test('pull stops below late commit', async (t) => {
  const base = await buildTestApp(t, UNLIMITED)
  const skewed = await buildTestApp(t, { ...UNLIMITED, NOTES_TABLE: base.tableName }, {
    repositoryOptions: { now: () => Date.now() + 7_000 },
  })
  const hold = holdNoteWrite(base.app, 'late')
  const early = await push(base.app, 'alice', { noteId: 'early' })
  const firstPull = await pull(skewed.app, 'alice')
  t.same(firstPull.json().notes, [early.json()])
  t.equal(cursorSeq('alice', firstPull.json().cursor), 1)

  const latePush = push(base.app, 'alice', { noteId: 'late', title: 'committed late' })
  await hold.reached
  const after = await push(skewed.app, 'alice', { noteId: 'after' })
  const pullBelowLateWrite = await pull(skewed.app, 'alice', firstPull.json().cursor)
  const writerPullBelowLateWrite = await pull(base.app, 'alice', firstPull.json().cursor)

  t.equal(after.statusCode, 201, 'the later write (seq 3) completes first')
  t.same(pullBelowLateWrite.json().notes, [], 'the pull does not return seq 3')
  t.equal(pullBelowLateWrite.json().hasMore, false)
  t.equal(cursorSeq('alice', pullBelowLateWrite.json().cursor), 1, 'the cursor stays below the late seq 2')
  t.same(writerPullBelowLateWrite.json().notes, [], 'the writing instance also stops below seq 2')

  hold.release()
  const late = await latePush
  const resumedPull = await pull(skewed.app, 'alice', pullBelowLateWrite.json().cursor)

  t.equal(late.statusCode, 201)
  t.same(resumedPull.json().notes, [late.json(), after.json()], 'the next pull returns seq 2 and 3 in order')
  t.equal(cursorSeq('alice', resumedPull.json().cursor), 3)
  t.same(await fullPull(base.app, 'alice'), [after.json(), early.json(), late.json()])
})

interface Device {
  name: string
  userId: string
  random: Random
  /** Version of each note as this device last saw it. */
  known: Map<string, number>
  created: number
}

interface Reader {
  name: string
  userId: string
  random: Random
  cursor: string | undefined
  lastSeq: number
  replica: Map<string, Note>
  seen: Set<string>
  duplicates: string[]
  regressions: string[]
}

t.test('randomized sync rounds converge', async (t) => {
  t.comment(`seed ${seed} (set NOTES_SYNC_SEED=${seed} to replay)`)
  const random = createRandom(seed)
  // Three instances share one table, with clocks 7 s ahead and 5 s behind,
  // so each judges the others' intents by a skewed clock. The skew is far
  // below the default intent timeout of 60 s.
  const base = await buildTestApp(t, UNLIMITED)
  const ahead = await buildTestApp(t, { ...UNLIMITED, NOTES_TABLE: base.tableName }, {
    repositoryOptions: { now: () => Date.now() + 7_000 },
  })
  const behind = await buildTestApp(t, { ...UNLIMITED, NOTES_TABLE: base.tableName }, {
    repositoryOptions: { now: () => Date.now() - 5_000 },
  })
  const apps = [base.app, ahead.app, behind.app]
  const users = ['alice', 'bob']

  const devices: Device[] = [
    ...[1, 2, 3, 4].map((index) => ({ name: `alice-device-${index}`, userId: 'alice' })),
    { name: 'bob-device-1', userId: 'bob' },
  ].map((device) => ({ ...device, random: createRandom(random.int(0, 2 ** 32 - 1)), known: new Map(), created: 0 }))
  const readers: Reader[] = [
    ...[1, 2, 3].map((index) => ({ name: `alice-reader-${index}`, userId: 'alice' })),
    { name: 'bob-reader-1', userId: 'bob' },
  ].map((reader) => ({
    ...reader,
    random: createRandom(random.int(0, 2 ** 32 - 1)),
    cursor: undefined,
    lastSeq: 0,
    replica: new Map(),
    seen: new Set(),
    duplicates: [],
    regressions: [],
  }))

  /** Every acknowledged note, by user and noteId. */
  const acknowledged = new Map<string, Note[]>()
  /** noteIds known to be created, per user. Devices pick the notes they update from these lists. */
  const createdNotes = new Map<string, string[]>(users.map((userId) => [userId, []]))
  const violations: string[] = []
  const counts = { acknowledged: 0, conflicts: 0, pages: 0 }

  const acknowledge = (userId: string, note: Note) => {
    const key = `${userId}/${note.noteId}`
    const notes = acknowledged.get(key) ?? []
    notes.push(note)
    acknowledged.set(key, notes)
  }

  async function writeOnce (device: Device): Promise<void> {
    const { random: choose, userId } = device
    const app = choose.pick(apps)
    const pool = createdNotes.get(userId) as string[]
    const knownIds = [...device.known.keys()]
    const roll = choose.next()
    let payload: { noteId: string, title: string, content: string, isDeleted: boolean, version?: number }
    const text = `${device.name} ${choose.int(0, 1e9)}`

    if (pool.length === 0 || roll < 0.3) {
      device.created += 1
      payload = { noteId: `${device.name}-${device.created}`, title: text, content: text, isDeleted: false, version: 0 }
    } else if (roll < 0.55 || knownIds.length === 0) {
      payload = { noteId: choose.pick(pool), title: text, content: text, isDeleted: choose.chance(0.15) }
    } else if (roll < 0.9) {
      const noteId = choose.pick(knownIds)
      payload = {
        noteId,
        title: text,
        content: text,
        isDeleted: choose.chance(0.15),
        version: device.known.get(noteId) as number,
      }
    } else {
      payload = { noteId: choose.pick(pool), title: text, content: text, isDeleted: false, version: 0 }
    }

    const response = await push(app, userId, payload)
    const where = `${device.name} ${JSON.stringify(payload)}`
    if (response.statusCode === 200 || response.statusCode === 201) {
      const note = response.json() as Note
      counts.acknowledged += 1
      acknowledge(userId, note)
      device.known.set(note.noteId, note.version)
      if (note.version === 1 && !pool.includes(note.noteId)) pool.push(note.noteId)
      if (payload.version !== undefined && note.version !== payload.version + 1) {
        violations.push(`${where}: acknowledged version ${note.version}`)
      }
      if ((response.statusCode === 201) !== (note.version === 1)) {
        violations.push(`${where}: status ${response.statusCode} for version ${note.version}`)
      }
    } else if (response.statusCode === 409 && payload.version !== undefined) {
      const current = response.json().current as Note | null
      if (current === null || current.version === payload.version) {
        violations.push(`${where}: 409 with current ${JSON.stringify(current)}`)
      } else {
        counts.conflicts += 1
        device.known.set(current.noteId, current.version)
      }
    } else {
      violations.push(`${where}: status ${response.statusCode} ${response.body}`)
    }
  }

  /** Pull until hasMore is false, applying every note to the reader's replica. */
  async function pullToEnd (reader: Reader): Promise<void> {
    for (;;) {
      const app = reader.random.pick(apps)
      const response = await pull(app, reader.userId, reader.cursor, reader.random.int(1, 8))
      if (response.statusCode !== 200) {
        violations.push(`${reader.name}: pull status ${response.statusCode} ${response.body}`)
        return
      }
      const body = response.json() as { notes: Note[], cursor: string, hasMore: boolean }
      counts.pages += 1
      for (const note of body.notes) {
        const key = `${note.noteId}@${note.version}`
        if (reader.seen.has(key)) reader.duplicates.push(key)
        reader.seen.add(key)
        const previous = reader.replica.get(note.noteId)
        if (previous !== undefined && previous.version >= note.version) {
          reader.regressions.push(`${note.noteId}: replica has version ${previous.version}, received ${note.version}`)
        }
        reader.replica.set(note.noteId, note)
      }
      const seq = cursorSeq(reader.userId, body.cursor)
      if (seq < reader.lastSeq) violations.push(`${reader.name}: cursor moved back from ${reader.lastSeq} to ${seq}`)
      if (body.hasMore && seq === reader.lastSeq) {
        violations.push(`${reader.name}: hasMore is true but the cursor stays at ${seq}`)
        return
      }
      reader.lastSeq = seq
      reader.cursor = body.cursor
      if (!body.hasMore) return
    }
  }

  const replicaOf = (reader: Reader) => [...reader.replica.values()].sort(byNoteId)

  for (let round = 1; round <= ROUNDS; round++) {
    const writers = devices.map(async (device) => {
      const operations = device.random.int(1, 3)
      for (let operation = 0; operation < operations; operation++) {
        await delay(device.random.int(0, 3))
        await writeOnce(device)
      }
    })
    const pulls = readers.map(async (reader) => {
      const loops = reader.random.int(1, 2)
      for (let loop = 0; loop < loops; loop++) {
        await delay(reader.random.int(0, 4))
        await pullToEnd(reader)
      }
    })
    await Promise.all([...writers, ...pulls])

    // No write is in flight now, so every reader must catch up exactly.
    const expected = new Map<string, Note[]>()
    for (const userId of users) expected.set(userId, await fullPull(random.pick(apps), userId))
    for (const reader of readers) {
      await pullToEnd(reader)
      const serverNotes = JSON.stringify(expected.get(reader.userId))
      if (JSON.stringify(replicaOf(reader)) !== serverNotes) {
        violations.push(`round ${round}: ${reader.name} does not contain the server's notes after catching up`)
      }
    }
  }

  t.comment(`${counts.acknowledged} writes acknowledged, ${counts.conflicts} conflicts, ${counts.pages} pages pulled`)
  const context = `(seed ${seed})`
  t.same(violations, [], `no protocol violations ${context}`)

  for (const userId of users) {
    const server = await fullPull(base.app, userId)
    t.same(await fullPull(ahead.app, userId), server, `${userId}: instances return the same notes ${context}`)
    t.same(await fullPull(behind.app, userId), server, `${userId}: instances agree with the skewed-back one ${context}`)

    const latest: Note[] = []
    const repeatedVersions: string[] = []
    for (const [key, notes] of acknowledged) {
      if (!key.startsWith(`${userId}/`)) continue
      const versions = notes.map((note) => note.version)
      if (new Set(versions).size !== versions.length) repeatedVersions.push(`${key}: ${versions.join(',')}`)
      latest.push(notes.reduce((highest, note) => (note.version > highest.version ? note : highest)))
    }
    t.same(repeatedVersions, [], `${userId}: each acknowledged version is unique ${context}`)
    t.same(server, latest.sort(byNoteId), `${userId}: server has the highest acknowledged versions ${context}`)
  }
  const tombstones = [...acknowledged.values()].flat().filter((note) => note.isDeleted)
  t.ok(tombstones.length > 0, `tombstones were written ${context}`)

  for (const reader of readers) {
    await pullToEnd(reader)
    const server = await fullPull(base.app, reader.userId)
    t.same(replicaOf(reader), server, `${reader.name}: final replica equals the server ${context}`)
    t.same(reader.duplicates, [], `${reader.name}: no note version received twice ${context}`)
    t.same(reader.regressions, [], `${reader.name}: versions only increase ${context}`)
  }
})
