import { createHash } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { encodeCursor } from '../../src/notes/cursor.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'
import { BURST_SETTINGS, DOCUMENTED_CODES, printable, type PulledNote } from '../helpers/hostile.js'

const ALICE_NOTES = 12
const BOB_NOTES = 3

interface Page {
  notes: PulledNote[]
  cursor: string
  hasMore: boolean
}

/** Build an app where alice has notes a-00 to a-11 and bob has b-0 to b-2, each written once. */
async function buildQueryApp (t: Test) {
  const { app } = await buildTestApp(t, BURST_SETTINGS)
  const headers = { alice: await authHeaders('alice'), bob: await authHeaders('bob') }
  for (let index = 0; index < ALICE_NOTES; index++) {
    await app.inject({ method: 'POST', url: '/notes', headers: headers.alice, payload: { noteId: `a-${String(index).padStart(2, '0')}` } })
  }
  for (let index = 0; index < BOB_NOTES; index++) {
    await app.inject({ method: 'POST', url: '/notes', headers: headers.bob, payload: { noteId: `b-${index}` } })
  }
  /** GET /notes with the query string exactly as given. */
  const pull = (query: string, user: 'alice' | 'bob' = 'alice') =>
    app.inject({ method: 'GET', url: `/notes?${query}`, headers: headers[user] })
  return { app, headers, pull }
}

function assertError (t: Test, response: LightMyRequestResponse, code: string, label: string): void {
  t.equal(response.statusCode, 400, `${label}: status`)
  t.equal(response.json().code, code, `${label}: code`)
}

function decodeWire (cursor: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
}

function encodeWire (wire: unknown): string {
  return Buffer.from(JSON.stringify(wire)).toString('base64url')
}

function noteIds (response: LightMyRequestResponse): string[] {
  return (response.json() as Page).notes.map((note) => note.noteId)
}

/** Numbers written in ways the parameters must not accept, as URL-encoded query values. */
const MALFORMED_NUMBERS = [
  '-1', '-0', '+1', '%2B1', '%201', '1%20', '%091', '1%0A', '1.0', '1.5', '.5', '1e2', '1E2', '0x10', '0X10', '0o10', '0b1',
  '1_000', '1%2C000', 'Infinity', 'NaN', 'null', 'true', '%EF%BC%91', '%D9%A3', '%00', '1%00', '%', '%ZZ', '%C0%AF',
  '%E2%82', '99999999999999999999',
]

t.test('empty parameter values are rejected', async (t) => {
  const { pull } = await buildQueryApp(t)

  for (const name of ['cursor', 'limit', 'lastUpdated', 'updated']) {
    for (const query of [`${name}=`, name]) {
      const response = await pull(query)
      assertError(t, response, 'INVALID_REQUEST', query)
      t.match(response.json().message, `"${name}"`, `${query}: message names the parameter`)
    }
  }
})

t.test('repeated parameters are rejected', async (t) => {
  const { pull } = await buildQueryApp(t)
  const cursor = (await pull('')).json().cursor
  const cases: Array<[string, string]> = [
    ['limit', 'limit=1&limit=1'],
    ['limit', 'limit=1&limit=2&limit=3'],
    ['limit', 'limit=1&limit='],
    ['cursor', `cursor=${cursor}&cursor=${cursor}`],
    ['lastUpdated', 'lastUpdated=0&lastUpdated=0'],
    ['updated', 'updated=0&updated=1'],
  ]

  for (const [name, query] of cases) {
    const response = await pull(query)
    assertError(t, response, 'INVALID_REQUEST', query.slice(0, 60))
    t.match(response.json().message, `"${name}"`, `${query.slice(0, 60)}: message names the parameter`)
  }
})

t.test('malformed limits are rejected', async (t) => {
  const { pull } = await buildQueryApp(t)

  for (const value of [...MALFORMED_NUMBERS, '0', '0000', '1001', '9999', '01000', '9007199254740993']) {
    const response = await pull(`limit=${value}`)
    assertError(t, response, 'INVALID_REQUEST', `limit=${value}`)
    t.match(response.json().message, '"limit"', `limit=${value}: message names the parameter`)
  }
})

t.test('limit digits are read as decimal', async (t) => {
  const { pull } = await buildQueryApp(t)
  const cases: Array<[string, number, boolean]> = [
    ['0001', 1, true],
    ['010', 10, true],
    ['0012', 12, false],
    ['1000', 12, false],
  ]

  for (const [value, count, hasMore] of cases) {
    const response = await pull(`limit=${value}`)
    t.equal(response.statusCode, 200, `limit=${value}: status`)
    t.equal(noteIds(response).length, count, `limit=${value}: notes`)
    t.equal(response.json().hasMore, hasMore, `limit=${value}: hasMore`)
  }
})

t.test('malformed times are rejected', async (t) => {
  const { pull } = await buildQueryApp(t)
  const values = [...MALFORMED_NUMBERS, '9007199254740992', '9007199254740993', '9999999999999999', '00000000000000000']

  for (const name of ['lastUpdated', 'updated']) {
    for (const value of values) {
      const query = `${name}=${value}`
      const response = await pull(query)
      assertError(t, response, 'INVALID_REQUEST', query)
      t.match(response.json().message, `"${name}"`, `${query}: message names the parameter`)
    }
  }
})

t.test('time edges are accepted', async (t) => {
  const { pull } = await buildQueryApp(t)
  const cases: Array<[string, number]> = [
    ['0', ALICE_NOTES],
    ['0000000000000000', ALICE_NOTES],
    ['9007199254740991', 0],
  ]

  for (const name of ['lastUpdated', 'updated']) {
    for (const [value, count] of cases) {
      const response = await pull(`${name}=${value}`)
      t.equal(response.statusCode, 200, `${name}=${value}: status`)
      t.equal(noteIds(response).length, count, `${name}=${value}: notes`)
    }
  }
})

t.test('garbage cursors are INVALID_CURSOR', async (t) => {
  const { pull } = await buildQueryApp(t)
  const owner = decodeWire((await pull('')).json().cursor).u as string
  const cursors: string[] = []

  // Pseudo-random bytes of many lengths, from a fixed hash chain.
  let block = createHash('sha512').update('cursor').digest()
  for (let length = 1; length <= 384; length += 11) {
    const bytes: Buffer[] = []
    while (Buffer.concat(bytes).length < length) {
      block = createHash('sha512').update(block).digest()
      bytes.push(block)
    }
    cursors.push(Buffer.concat(bytes).subarray(0, length).toString('base64url'))
  }
  // Valid base64url of text that is not JSON.
  for (const text of ['hello', '\u0000\u0001\u0002', '{', '{"v":1', 'undefined', 'NaN', '\ufeff{}', '{\'v\':1}']) {
    cursors.push(Buffer.from(text).toString('base64url'))
  }
  // JSON of other types and of objects of the wrong shape.
  const shapes: unknown[] = [
    null, 1, 'x', true, [], [1, 2],
    { v: 1, u: owner },
    { v: 1, u: owner, s: '1' }, { v: 1, u: owner, s: 1.5 }, { v: 1, u: owner, s: -1 },
    { v: 1, u: owner, s: 2 ** 53 }, { v: 1, u: owner, s: null }, { v: 1, u: owner, s: true },
    { v: 1, u: owner, s: [1] }, { v: 1, u: owner, s: {} },
    { v: 2, u: owner, s: 0 }, { v: '1', u: owner, s: 0 }, { u: owner, s: 0 },
    { v: 1, s: 0 }, { v: 1, u: null, s: 0 }, { v: 1, u: '', s: 0 }, { v: 1, u: owner.toLowerCase(), s: 0 },
    { v: 1, u: owner, t: -1 }, { v: 1, u: owner, t: '1' }, { v: 1, u: owner, t: 0.5 },
    { v: 1, u: owner, s: 0, t: 0 }, { v: 1, u: owner, t: 0, n: '' }, { v: 1, u: owner, t: 0, n: 5 },
    { v: 1, u: owner, t: 0, n: null }, { v: 1, u: owner, n: 'a-00' }, { v: 1, u: owner, s: 0, n: 'a-00' },
  ]
  for (const shape of shapes) cursors.push(encodeWire(shape))

  for (const cursor of cursors) {
    assertError(t, await pull(`cursor=${cursor}`), 'INVALID_CURSOR', cursor.slice(0, 60))
  }
  for (const value of ['%00', '%00%00', '%FF', '%C0%AF', '%25', '%', '%ZZ', '%20', '...']) {
    assertError(t, await pull(`cursor=${value}`), 'INVALID_CURSOR', `cursor=${value}`)
  }
})

t.test('cursor length is limited', async (t) => {
  const { pull } = await buildQueryApp(t)

  const atLimit = await pull(`cursor=${'A'.repeat(512)}`)
  const overLimit = await pull(`cursor=${'A'.repeat(513)}`)
  const huge = await pull(`cursor=${'A'.repeat(100_000)}`)

  assertError(t, atLimit, 'INVALID_CURSOR', '512 characters')
  assertError(t, overLimit, 'INVALID_REQUEST', '513 characters')
  t.match(overLimit.json().message, '"cursor"', '513 characters: message names the parameter')
  assertError(t, huge, 'INVALID_REQUEST', '100 000 characters')
})

t.test('cursor bytes outside base64url', async (t) => {
  const { pull } = await buildQueryApp(t)
  const middle = await pull('limit=5')
  const cursor = middle.json().cursor as string
  const expected = await pull(`cursor=${cursor}`)
  // Node's base64 decoder skips bytes outside the alphabet, so these may
  // read as the original cursor. Both outcomes are safe: the same page, or
  // INVALID_CURSOR.
  const variants = [
    `${cursor}%00`, `%00${cursor}`, `${cursor.slice(0, 5)}%00${cursor.slice(5)}`, `%20${cursor}`, `${cursor}%20`,
    `${cursor}.`, `${cursor}==`, `${cursor}%0A`, encodeURIComponent(Buffer.from(cursor, 'base64url').toString('base64')),
  ]

  t.equal(expected.statusCode, 200, 'original cursor')
  for (const variant of variants) {
    const response = await pull(`cursor=${variant}`)
    if (response.statusCode === 200) {
      t.same(response.json(), expected.json(), `${variant}: same page as the original`)
    } else {
      assertError(t, response, 'INVALID_CURSOR', variant)
    }
  }
})

t.test('tampered cursors stay in the feed', async (t) => {
  const { pull } = await buildQueryApp(t)
  const full = await pull('limit=1000')
  const feed = noteIds(full)
  const wire = decodeWire(full.json().cursor)
  const last = wire.s as number

  t.equal(last, ALICE_NOTES, 'the cursor is at the end of the feed')
  for (let seq = 0; seq <= last; seq++) {
    const response = await pull(`cursor=${encodeWire({ ...wire, s: seq })}`)
    t.equal(response.statusCode, 200, `seq ${seq}: status`)
    t.same(noteIds(response), feed.slice(seq), `seq ${seq}: the rest of alice's feed`)
  }
  for (const seq of [last + 1, last + 2, 1000, Number.MAX_SAFE_INTEGER]) {
    assertError(t, await pull(`cursor=${encodeWire({ ...wire, s: seq })}`), 'INVALID_CURSOR', `seq ${seq}`)
  }

  const timestamps: Array<[string, Record<string, unknown>, number]> = [
    ['time 0', { t: 0 }, ALICE_NOTES],
    ['time 0 after a note of bob', { t: 0, n: 'b-0' }, ALICE_NOTES],
    ['time 0 after the sync state', { t: 0, n: '#sync' }, ALICE_NOTES],
    ['time 0 after a lone surrogate', { t: 0, n: '\ud800' }, ALICE_NOTES],
    ['largest time', { t: Number.MAX_SAFE_INTEGER }, 0],
    ['largest time after a note', { t: Number.MAX_SAFE_INTEGER, n: 'a-00' }, 0],
  ]
  for (const [label, position, count] of timestamps) {
    const response = await pull(`cursor=${encodeWire({ v: 1, u: wire.u, ...position })}`)
    t.equal(response.statusCode, 200, `${label}: status`)
    const ids = noteIds(response)
    t.equal(ids.length, count, `${label}: notes`)
    t.ok(ids.every((noteId) => noteId.startsWith('a-')), `${label}: only alice's notes`)
  }
})

t.test('cursors of other users are rejected', async (t) => {
  const { pull } = await buildQueryApp(t)
  const bobSeq = (await pull('', 'bob')).json().cursor
  const bobTime = (await pull('lastUpdated=0&limit=1', 'bob')).json().cursor
  const aliceSeq = (await pull('')).json().cursor
  const cases: Array<[string, string, 'alice' | 'bob']> = [
    ['bob\'s change cursor', bobSeq, 'alice'],
    ['bob\'s time cursor', bobTime, 'alice'],
    ['alice\'s change cursor', aliceSeq, 'bob'],
    ['cursor of "Alice"', encodeCursor('Alice', { kind: 'seq', seq: 0 }), 'alice'],
    ['cursor of "alice "', encodeCursor('alice ', { kind: 'seq', seq: 0 }), 'alice'],
    ['cursor of ""', encodeCursor('', { kind: 'seq', seq: 0 }), 'alice'],
  ]

  for (const [label, cursor, user] of cases) {
    const response = await pull(`cursor=${cursor}`, user)
    assertError(t, response, 'INVALID_CURSOR', label)
  }
})

t.test('unknown parameters are ignored', async (t) => {
  const { pull } = await buildQueryApp(t)
  const expected = noteIds(await pull(''))
  const extras = [
    'foo=bar', '__proto__=1', '__proto__[limit]=1', 'constructor=x', 'constructor[prototype][limit]=1', 'prototype=1',
    'hasOwnProperty=1', 'toString=1', 'valueOf=1', '=1', '&&&', 'a[b]=c', 'limit[]=1', 'LIMIT=1', 'Cursor=x',
    'lastupdated=1', `x=${'y'.repeat(10_000)}`, '%ZZ=1', 'x=%ZZ', '%00=1', 'x=%00',
  ]

  t.equal(expected.length, ALICE_NOTES, 'baseline has every note')
  for (const extra of extras) {
    const response = await pull(extra)
    const label = printable(extra.slice(0, 40))
    t.equal(response.statusCode, 200, `${label}: status`)
    t.same(noteIds(response), expected, `${label}: same notes`)
    const limited = await pull(`${extra}&limit=2`)
    t.same(noteIds(limited), expected.slice(0, 2), `${label}: limit still applies`)
  }
})

t.test('only one pull position is accepted', async (t) => {
  const { pull } = await buildQueryApp(t)
  const cursor = (await pull('')).json().cursor
  const queries = [
    `cursor=${cursor}&updated=0`,
    `updated=0&cursor=${cursor}`,
    `lastUpdated=0&cursor=${cursor}`,
    `cursor=${cursor}&lastUpdated=0&updated=0`,
    'lastUpdated=0&updated=0',
  ]

  for (const query of queries) {
    const response = await pull(query)
    assertError(t, response, 'INVALID_REQUEST', query)
    t.match(response.json().message, /only one/, `${query}: message`)
  }
})

t.test('malformed path escapes are 400', async (t) => {
  const { app, headers } = await buildQueryApp(t)

  for (const url of ['/notes%', '/notes%ZZ', '/%E0%A4%A', '/notes%?limit=1']) {
    const response = await app.inject({ method: 'GET', url, headers: headers.alice })
    t.equal(response.statusCode, 400, `${url}: status`)
    t.ok(DOCUMENTED_CODES.has(response.json().code), `${url}: documented code, got ${response.json().code}`)
    t.ok(response.headers['x-request-id'], `${url}: request id`)
  }
})
