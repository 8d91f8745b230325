import fc from 'fast-check'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { signLocalToken } from '../../src/auth/local-tokens.js'
import { MAX_ITEM_BYTES } from '../../src/notes/item-size.js'
import { BODY_LIMIT_BYTES } from '../../src/app.js'
import { authHeaders, buildTestApp, TEST_SECRET, tokenFor } from '../helpers/app.js'
import {
  BURST_SETTINGS,
  DOCUMENTED_CODES,
  findInvalidItems,
  printable,
  scanNotes,
  scanTable,
  type PulledNote,
} from '../helpers/hostile.js'

// Each property sends one request per run through inject() into one app.
// Measured with this file on 2 shared cores, a rejected request takes about
// 1 ms, a pull 5 ms and a stored push 13 ms, and the whole file 40 to 60 s.
const RUNS = { push: 3000, pull: 3000, routes: 4200 }
const MIN_REQUESTS = 10_000

const SEED = process.env.FAST_CHECK_SEED === undefined ? 20_261_204 : Number(process.env.FAST_CHECK_SEED)

// The runs above take far less than this limit, which only stops a hung run.
t.setTimeout(300_000)
t.comment(`fast-check seed ${SEED}; set FAST_CHECK_SEED to run with another`)

let requestsSent = 0
/** Responses by status code of the property running now, printed so that a run shows what it reached. */
let statusCounts = new Map<number, number>()

/** Users of the generated requests. The last two are a non-ASCII `sub` claim and one of maximum length. */
const USERS = ['alice', 'bob', 'ユーザー', 'u'.repeat(256)]

interface AuthVariant {
  /** Authorization header, or undefined for none. */
  header: string | undefined
  /** User the request runs as when the server accepts the header, or undefined when it must not. */
  userId: string | undefined
}

/** Bytes Node's HTTP parser passes on in a header value: tab, printable ASCII and 0x80-0xFF. */
const headerText = (maxLength: number) => fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0x80, max: 0xff }),
    fc.constant(0x09),
  ).map((code) => String.fromCharCode(code)),
  maxLength,
}).map((text) => text.trim())

async function authVariants (): Promise<fc.Arbitrary<AuthVariant>> {
  const tokens = await Promise.all(USERS.map((userId) => tokenFor(userId)))
  const expired = await signLocalToken(TEST_SECRET, 'alice', -60)
  const otherSecret = await signLocalToken('another-secret-for-local-tokens-0123456789', 'alice', 3600)
  const valid = tokens.map((token, index) => ({ header: `Bearer ${token}`, userId: USERS[index] }))
  const invalid: AuthVariant[] = [
    { header: undefined, userId: undefined },
    { header: '', userId: undefined },
    { header: 'Bearer', userId: undefined },
    { header: 'Bearer ', userId: undefined },
    { header: 'Basic YWxpY2U6cGFzc3dvcmQ=', userId: undefined },
    { header: `Bearer ${tokens[0]}x`, userId: undefined },
    { header: `Bearer ${tokens[0]} ${tokens[1]}`, userId: undefined },
    { header: `Bearer ${expired}`, userId: undefined },
    { header: `Bearer ${otherSecret}`, userId: undefined },
    { header: tokens[0], userId: undefined },
  ]
  return fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...valid).map((variant) => ({ ...variant, header: variant.header.replace('Bearer', 'bearer') })) },
    { weight: 2, arbitrary: fc.constantFrom(...invalid) },
    { weight: 1, arbitrary: headerText(60).map((header) => ({ header, userId: undefined })) },
  )
}

const contentTypes: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 30, arbitrary: fc.constant('application/json') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=UTF-8', undefined, '',
      'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json',
      'application/', ';;', 'json', 'application/json; charset=latin1',
    ),
  },
  { weight: 1, arbitrary: headerText(40) },
)

/** Any UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))

const text = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: codeUnit, maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom('\ud800', '\udc00', 'a\ud83d', '\u2028', '\u0000', '\ufeff', '\ufffd', '"', '\\') },
)

const noteIds = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('n1', 'n2', 'n3', 'a:b', 'x.y-z_', 'N'.repeat(128)) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', '#sync', 'a/b', 'x'.repeat(129), 'ä', ' n1', 'n1\n', '\ud800') },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
)

/** A version in one push of four. Most pushes send none, so that the last write wins and gets stored. */
const versions = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 })) },
)

// JSON.stringify leaves out a version of undefined.
const validNote = fc.record({
  noteId: noteIds,
  title: text,
  content: text,
  isDeleted: fc.boolean(),
  version: versions,
}, { requiredKeys: ['noteId', 'version'] })

/** Fields a near-valid note may get a wrong value for, server-owned fields and unknown keys included. */
const mutatedField = fc.constantFrom(
  'noteId', 'title', 'content', 'isDeleted', 'version', 'userId', 'seq', 'updated', 'createdAt', 'extra',
)

/** Edits of the JSON text of a valid note: prototype keys, duplicate keys, number forms, garbage. */
const textEdits: Array<(json: string) => string> = [
  (json) => json.replace(/}$/, ',"__proto__":{"isDeleted":true}}'),
  (json) => json.replace(/}$/, ',"constructor":{"prototype":{"x":1}}}'),
  (json) => json.replace(/}$/, ',"title":5}'),
  (json) => json.replace(/}$/, ',"title":"last"}'),
  (json) => json.replace(/}$/, ',"version":1e400}'),
  (json) => json.replace(/}$/, ',"version":-0}'),
  (json) => json.replace(/}$/, ',"version":9007199254740993}'),
  (json) => json.replace(/}$/, ',"version":1.0}'),
  (json) => json.replace(/}$/, ',"version":1.5}'),
  (json) => `\ufeff${json}`,
  (json) => `${json}x`,
  (json) => `${json} `,
  (json) => json.replaceAll('"', "'"),
  (json) => `[${json}]`,
]

/** Bodies at the size limits, built once. Each costs a full-size write when accepted. */
const sizedBodies = fc.constantFrom(
  JSON.stringify({ noteId: 'big', content: 'x'.repeat(MAX_ITEM_BYTES - 200) }),
  JSON.stringify({ noteId: 'big', content: '😀'.repeat(MAX_ITEM_BYTES / 4) }),
  JSON.stringify({ noteId: 'big', content: 'x'.repeat(BODY_LIMIT_BYTES) }),
)

const pushBodies: fc.Arbitrary<string | Buffer> = fc.oneof(
  { weight: 36, arbitrary: validNote.map((note) => JSON.stringify(note)) },
  {
    weight: 10,
    arbitrary: fc.tuple(validNote, mutatedField, fc.jsonValue({ maxDepth: 2 }))
      .map(([note, field, value]) => JSON.stringify({ ...note, [field]: value })),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(validNote, fc.integer({ min: 0, max: textEdits.length - 1 }))
      .map(([note, edit]) => (textEdits[edit] as (json: string) => string)(JSON.stringify(note))),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(validNote, fc.nat()).map(([note, cut]) => {
      const json = JSON.stringify(note)
      return json.slice(0, cut % json.length)
    }),
  },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '{}', '[]', '{"noteId":"n1"}{"noteId":"n2"}') },
  // About one body in 60 is at a size limit.
  { weight: 1, arbitrary: sizedBodies },
)

/** Encode a query value as a client would, after replacing lone surrogates, which no URL can carry. */
function encodeQueryValue (value: string): string {
  return encodeURIComponent(value.toWellFormed())
}

/** Describe a request for a failure message, with the body cut to 300 characters. */
function describeRequest (request: InjectOptions): string {
  const payload = request.payload
  const body = Buffer.isBuffer(payload) ? `bytes ${payload.toString('hex').slice(0, 300)}` : printable(String(payload ?? '').slice(0, 300))
  return `${request.method} ${printable(request.url)} headers ${printable(request.headers)} body ${body}`
}

/** Send one generated request and fail the run on a 5xx or a failed inject. */
async function send (app: FastifyInstance, request: InjectOptions): Promise<LightMyRequestResponse> {
  requestsSent++
  let response: LightMyRequestResponse
  try {
    response = await app.inject(request)
  } catch (err) {
    throw new Error(`inject failed: ${(err as Error).message}\nrequest: ${describeRequest(request)}`)
  }
  statusCounts.set(response.statusCode, (statusCounts.get(response.statusCode) ?? 0) + 1)
  if (response.statusCode >= 500) {
    throw new Error(`${response.statusCode} ${response.body.slice(0, 500)}\nrequest: ${describeRequest(request)}`)
  }
  return response
}

/** Fail unless an error response of the notes routes has the documented shape. */
function checkErrorBody (response: LightMyRequestResponse, request: InjectOptions): void {
  if (response.statusCode < 400) return
  const body = response.json() as { statusCode?: unknown, code?: unknown, message?: unknown }
  if (body.statusCode !== response.statusCode || !DOCUMENTED_CODES.has(body.code as string) || typeof body.message !== 'string') {
    throw new Error(`error without a documented code: ${response.statusCode} ${response.body.slice(0, 300)}\nrequest: ${describeRequest(request)}`)
  }
}

function parseSentBody (payload: string | Buffer): Record<string, unknown> {
  const textBody = Buffer.isBuffer(payload) ? new TextDecoder().decode(payload) : payload
  return JSON.parse(textBody.replace(/^\ufeff/, '')) as Record<string, unknown>
}

/**
 * Run a property with the file's seed. endOnFailure reports the first
 * failing request as it was generated, without shrinking it against an app
 * whose store the failing run already changed.
 */
async function runProperty<T extends unknown[]> (t: Test, name: string, property: fc.IAsyncProperty<T>, numRuns: number) {
  const before = requestsSent
  statusCounts = new Map()
  await fc.assert(property, { seed: SEED, numRuns, endOnFailure: true })
  const counts = [...statusCounts].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`)
  t.comment(`${name} responses by status: ${counts.join(', ')}`)
  t.ok(requestsSent - before >= numRuns, `${name}: ${requestsSent - before} requests`)
}

t.test('rate limit returns 429 by default', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const statuses: number[] = []

  // RATE_LIMIT_MAX is 300 by default. Invalid limits keep DynamoDB out of it.
  for (let index = 0; index < 305; index++) {
    const response = await app.inject({ method: 'GET', url: '/notes?limit=x', headers })
    statuses.push(response.statusCode)
  }
  const limited = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n1' } })

  t.same(statuses.slice(0, 300), Array(300).fill(400), 'requests within the limit are served')
  t.same(statuses.slice(300), Array(5).fill(429), 'requests over the limit are 429')
  t.equal(limited.statusCode, 429, 'POST counts against the same limit')
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) >= 1, 'Retry-After in seconds')
})

t.test('POST /notes never returns 5xx', async (t) => {
  const { app, tableName } = await buildTestApp(t, BURST_SETTINGS)
  const auth = await authVariants()
  // The last returned version of each stored note, by user and noteId. Requests run one at a time, so it is exact.
  const lastWrites = new Map<string, PulledNote>()

  const property = fc.asyncProperty(auth, contentTypes, pushBodies, async (variant, contentType, payload) => {
    const headers: Record<string, string> = {}
    if (variant.header !== undefined) headers.authorization = variant.header
    if (contentType !== undefined) headers['content-type'] = contentType
    const request: InjectOptions = { method: 'POST', url: '/notes', headers, payload }
    const response = await send(app, request)
    checkErrorBody(response, request)
    if (response.statusCode >= 300 && response.statusCode !== 409) return

    if (variant.userId === undefined) throw new Error(`accepted without a valid token: ${describeRequest(request)}`)
    const sent = parseSentBody(payload)
    const key = `${variant.userId}\u0000${String(sent.noteId)}`
    const previous = lastWrites.get(key)
    const returned = response.json()

    if (response.statusCode === 409) {
      if (JSON.stringify(returned.current) !== JSON.stringify(previous ?? null)) {
        throw new Error(`409 current ${printable(returned.current)} is not the stored note ${printable(previous)}`)
      }
      return
    }
    const expected = {
      noteId: sent.noteId,
      title: sent.title ?? '',
      content: sent.content ?? '',
      isDeleted: sent.isDeleted ?? false,
      version: (previous?.version ?? 0) + 1,
    }
    const actual = { noteId: returned.noteId, title: returned.title, content: returned.content, isDeleted: returned.isDeleted, version: returned.version }
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      throw new Error(`stored ${printable(actual)}, expected ${printable(expected)}\nrequest: ${describeRequest(request)}`)
    }
    if ((response.statusCode === 201) !== (previous === undefined)) {
      throw new Error(`status ${response.statusCode} for a note that ${previous === undefined ? 'did not exist' : 'existed'}`)
    }
    if (sent.version !== undefined && sent.version !== (previous?.version ?? 0)) {
      throw new Error(`version ${String(sent.version)} applied over version ${previous?.version ?? 0}`)
    }
    lastWrites.set(key, returned as PulledNote)
  })
  await runProperty(t, 'POST /notes', property, RUNS.push)

  const items = await scanTable(app, tableName)
  t.same(findInvalidItems(items), [], 'every stored item is valid')
  const stored = new Map(items.map((item) => [`${String(item.userId)}\u0000${String(item.noteId)}`, item]))
  for (const [key, note] of lastWrites) {
    const item = stored.get(key)
    const label = printable(key.replace('\u0000', '/').slice(0, 60))
    t.same(
      { title: item?.title, content: item?.content, isDeleted: item?.isDeleted, version: item?.version },
      { title: note.title, content: note.content, isDeleted: note.isDeleted, version: note.version },
      `${label}: stored as last returned`,
    )
  }
  t.equal((await scanNotes(app, tableName)).length, lastWrites.size, 'no note stored without a 2xx')
})

/** Store notes `<prefix>-<n>` for every user and collect the cursors of their feeds. */
async function seedFeeds (app: FastifyInstance) {
  const prefixes = new Map<string, string>()
  const cursors: string[] = []
  for (const [index, userId] of USERS.entries()) {
    const prefix = `p${index}`
    prefixes.set(userId, prefix)
    const headers = await authHeaders(userId)
    for (let note = 0; note < 8; note++) {
      const payload = { noteId: `${prefix}-${note % 6}`, title: `t${note}`, isDeleted: note === 7 }
      const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })
      if (response.statusCode >= 300) throw new Error(`seed push failed: ${response.body}`)
    }
    for (const start of ['limit=1', 'limit=3', 'lastUpdated=0&limit=2']) {
      let query = start
      for (let page = 0; page < 10; page++) {
        const response = await app.inject({ method: 'GET', url: `/notes?${query}`, headers })
        const body = response.json() as { cursor: string, hasMore: boolean }
        cursors.push(body.cursor)
        if (!body.hasMore) break
        query = `limit=${start.match(/limit=(\d+)/)?.[1] ?? '1'}&cursor=${body.cursor}`
      }
    }
  }
  return { prefixes, cursors }
}

t.test('GET /notes never returns 5xx', async (t) => {
  const { app, tableName } = await buildTestApp(t, BURST_SETTINGS)
  const { prefixes, cursors } = await seedFeeds(app)
  const before = await scanTable(app, tableName)
  const owners = [...new Set(cursors.map((cursor) => JSON.parse(Buffer.from(cursor, 'base64url').toString()).u as string))]
  const auth = await authVariants()

  const numbers = fc.oneof(
    fc.nat(1100).map(String),
    fc.integer().map(String),
    fc.double().map(String),
    fc.bigInt().map(String),
    fc.constantFrom('', '010', '1e3', '0x10', ' 1', '+1', '-0', '9007199254740991', '9007199254740993', '00000000000000000'),
    fc.string({ unit: fc.constantFrom('0', '1', '9', '.', '-', 'e', ' '), maxLength: 20 }),
  )
  const wireCursors = fc.record({
    v: fc.constantFrom<unknown>(1, 1, 1, 2, '1'),
    u: fc.constantFrom<unknown>(...owners, 'x'),
    s: fc.option(fc.oneof(fc.integer({ min: -2, max: 30 }), fc.double(), fc.constant(2 ** 53)), { nil: undefined }),
    t: fc.option(fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER), fc.double()), { nil: undefined }),
    n: fc.option(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('p0-1', 'p1-1', '#sync')), { nil: undefined }),
  }, { requiredKeys: [] }).map((wire) => Buffer.from(JSON.stringify(wire)).toString('base64url'))
  const cursorValues = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...cursors) },
    { weight: 4, arbitrary: wireCursors },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes).toString('base64url')) },
    { weight: 1, arbitrary: fc.string({ maxLength: 600 }) },
  )
  const parameter = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constant('cursor'), cursorValues) },
    { weight: 3, arbitrary: fc.tuple(fc.constant('limit'), numbers) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('lastUpdated', 'updated'), numbers) },
    { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })) },
  )
  const queries = fc.oneof(
    { weight: 8, arbitrary: fc.array(parameter, { maxLength: 3 }).map((parameters) => parameters.map(([name, value]) => `${encodeQueryValue(name)}=${encodeQueryValue(value)}`).join('&')) },
    { weight: 1, arbitrary: fc.constantFrom('%', 'limit=%', 'cursor=%FF', 'limit=%C0%AF', '&&', '=', 'limit', '%ZZ=1') },
  )

  const property = fc.asyncProperty(auth, queries, async (variant, query) => {
    const headers: Record<string, string> = variant.header === undefined ? {} : { authorization: variant.header }
    const request: InjectOptions = { method: 'GET', url: `/notes?${query}`, headers }
    const response = await send(app, request)
    checkErrorBody(response, request)
    if (response.statusCode !== 200) return

    if (variant.userId === undefined) throw new Error(`accepted without a valid token: ${describeRequest(request)}`)
    const prefix = `${prefixes.get(variant.userId)}-`
    const page = response.json() as { notes: PulledNote[], cursor: unknown, hasMore: unknown }
    const foreign = page.notes.filter((note) => !note.noteId.startsWith(prefix))
    if (foreign.length > 0) throw new Error(`notes of another user: ${printable(foreign)}\nrequest: ${describeRequest(request)}`)
    if (typeof page.cursor !== 'string' || typeof page.hasMore !== 'boolean') throw new Error(`invalid page ${response.body.slice(0, 300)}`)
  })
  await runProperty(t, 'GET /notes', property, RUNS.pull)

  const after = await scanTable(app, tableName)
  t.same(findInvalidItems(after), [], 'every stored item is valid')
  t.same(after, before, 'pulls change nothing')
})

t.test('any route never returns 5xx', async (t) => {
  const { app, tableName } = await buildTestApp(t, BURST_SETTINGS)
  const auth = await authVariants()
  const paths = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        '/notes', '/health', '/ready', '/metrics', '/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/index.html',
        '/notes/', '/NOTES', '//notes', '/notes/n1', '/', '/health/', '/docs/static/../../package.json', '/notes%00',
      ),
    },
    // A request line always has a path, so an empty one gets "/".
    { weight: 2, arbitrary: fc.webPath().map((path) => path.startsWith('/') ? path : `/${path}`) },
  )
  const headerNames = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/).filter((name) => !['host', 'content-length', 'transfer-encoding'].includes(name))
  const requests = fc.record({
    method: fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
    path: paths,
    query: fc.option(fc.webQueryParameters(), { nil: undefined }),
    auth,
    contentType: contentTypes,
    requestId: fc.option(headerText(80), { nil: undefined }),
    extra: fc.array(fc.tuple(headerNames, headerText(40)), { maxLength: 3 }),
    body: fc.option(pushBodies, { nil: undefined }),
  })

  const property = fc.asyncProperty(requests, async (generated) => {
    const headers: Record<string, string> = Object.fromEntries(generated.extra)
    if (generated.auth.header !== undefined) headers.authorization = generated.auth.header
    if (generated.contentType !== undefined) headers['content-type'] = generated.contentType
    if (generated.requestId !== undefined) headers['x-request-id'] = generated.requestId
    const url = generated.query === undefined ? generated.path : `${generated.path}?${generated.query}`
    const request: InjectOptions = { method: generated.method, url, headers }
    if (generated.body !== undefined && generated.method !== 'GET' && generated.method !== 'HEAD') request.payload = generated.body
    const response = await send(app, request)
    if (response.statusCode >= 200 && response.statusCode < 300 && url.includes('package.json')) {
      throw new Error(`served a file outside the docs: ${describeRequest(request)}`)
    }
  })
  await runProperty(t, 'any route', property, RUNS.routes)

  t.same(findInvalidItems(await scanTable(app, tableName)), [], 'every stored item is valid')
})

t.test('enough requests were generated', async (t) => {
  t.comment(`${requestsSent} generated requests`)
  t.ok(requestsSent >= MIN_REQUESTS, `${requestsSent} requests, at least ${MIN_REQUESTS}`)
})
