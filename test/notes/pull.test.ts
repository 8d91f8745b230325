import t from 'tap'
import { encodeCursor } from '../../src/notes/cursor.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'

type App = Awaited<ReturnType<typeof buildTestApp>>['app']

async function pushNotes (app: App, headers: Record<string, string>, count: number, content = '') {
  for (let index = 0; index < count; index++) {
    const response = await app.inject({
      method: 'POST', url: '/notes', headers, payload: { noteId: `n${index}`, content },
    })
    if (response.statusCode !== 201) throw new Error(`push failed: ${response.body}`)
  }
}

/**
 * Follow the cursor until hasMore is false and return every page. A
 * lastUpdated in `query` applies to the first request only.
 */
async function pullAll (app: App, headers: Record<string, string>, query: string, cursor?: string) {
  const pages = []
  let next = cursor
  for (;;) {
    const params = new URLSearchParams(query)
    if (next !== undefined) {
      params.delete('lastUpdated')
      params.delete('updated')
      params.set('cursor', next)
    }
    const url = `/notes?${params.toString()}`
    const response = await app.inject({ method: 'GET', url, headers })
    if (response.statusCode !== 200) throw new Error(`pull failed: ${response.body}`)
    const page = response.json()
    pages.push(page)
    next = page.cursor
    if (!page.hasMore) return { pages, cursor: next as string }
  }
}

t.test('GET /notes on an empty feed', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({ method: 'GET', url: '/notes', headers: await authHeaders('alice') })

  t.equal(response.statusCode, 200)
  t.same(response.json().notes, [])
  t.equal(response.json().hasMore, false)
  t.type(response.json().cursor, 'string')
})

t.test('GET /notes pages in change order', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await pushNotes(app, headers, 5)
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n1', title: 'edited' } })

  const { pages } = await pullAll(app, headers, 'limit=2')

  t.same(pages.map((page) => page.notes.map((note: { noteId: string }) => note.noteId)),
    [['n0', 'n2'], ['n3', 'n4'], ['n1']])
  t.same(pages.map((page) => page.hasMore), [true, true, false])
  t.equal(pages[2].notes[0].title, 'edited')
})

t.test('GET /notes with the last cursor returns only new changes', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await pushNotes(app, headers, 3)
  const first = await pullAll(app, headers, '')

  const empty = await pullAll(app, headers, '', first.cursor)
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n0', isDeleted: true } })
  const next = await pullAll(app, headers, '', first.cursor)

  t.same(empty.pages[0].notes, [])
  t.equal(empty.cursor, first.cursor, 'cursor stays where it was')
  t.equal(next.pages[0].notes.length, 1)
  t.equal(next.pages[0].notes[0].isDeleted, true)
  t.equal(next.pages[0].notes[0].version, 2)
})

t.test('GET /notes reads past the 1 MB query page', async (t) => {
  // 300 pushes exceed the default rate limit of one user.
  const { app } = await buildTestApp(t, { RATE_LIMIT_MAX: '100000' })
  const headers = await authHeaders('alice')
  await pushNotes(app, headers, 300, 'x'.repeat(5000))

  const { pages } = await pullAll(app, headers, 'limit=1000')

  const ids = pages.flatMap((page) => page.notes.map((note: { noteId: string }) => note.noteId))
  t.ok(pages.length > 1, 'DynamoDB cut the first page at 1 MB')
  t.equal(ids.length, 300)
  t.equal(new Set(ids).size, 300, 'every note exactly once')
})

t.test('GET /notes keeps users apart', async (t) => {
  const { app } = await buildTestApp(t)
  await pushNotes(app, await authHeaders('alice'), 2)

  const bob = await app.inject({ method: 'GET', url: '/notes', headers: await authHeaders('bob') })

  t.same(bob.json().notes, [])
})

t.test('GET /notes rejects invalid limits', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')

  for (const limit of ['0', '1001', '-1', '1.5', '1e3', '0x10', '', 'ten', '99999']) {
    const response = await app.inject({ method: 'GET', url: `/notes?limit=${limit}`, headers })
    t.equal(response.statusCode, 400, `limit=${limit}`)
    t.match(response.json().message, /limit/)
  }
  const repeated = await app.inject({ method: 'GET', url: '/notes?limit=1&limit=2', headers })
  t.equal(repeated.statusCode, 400, 'repeated limit')
  const max = await app.inject({ method: 'GET', url: '/notes?limit=1000', headers })
  t.equal(max.statusCode, 200)
})

t.test('GET /notes rejects invalid cursors', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await pushNotes(app, headers, 1)
  const invalid = [
    'garbage',
    Buffer.from('{"v":1}').toString('base64url'),
    Buffer.from('[1,2]').toString('base64url'),
    Buffer.from('null').toString('base64url'),
    encodeCursor('bob', { kind: 'seq', seq: 1 }),
    encodeCursor('alice', { kind: 'seq', seq: 99 }),
    Buffer.from(JSON.stringify({ v: 1, u: JSON.parse(Buffer.from(encodeCursor('alice', { kind: 'seq', seq: 0 }), 'base64url').toString()).u, s: -1 })).toString('base64url'),
  ]

  for (const cursor of invalid) {
    const response = await app.inject({ method: 'GET', url: `/notes?cursor=${encodeURIComponent(cursor)}`, headers })
    t.equal(response.statusCode, 400, cursor)
    t.equal(response.json().code, 'INVALID_CURSOR')
  }
  const empty = await app.inject({ method: 'GET', url: '/notes?cursor=', headers })
  t.equal(empty.statusCode, 400, 'empty cursor')
})

t.test('GET /notes with lastUpdated', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await pushNotes(app, headers, 2)
  const all = (await app.inject({ method: 'GET', url: '/notes', headers })).json().notes
  const watermark = all[0].updated
  await new Promise((resolve) => setTimeout(resolve, 5))
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n0', title: 'later' } })

  for (const name of ['lastUpdated', 'updated']) {
    const { pages } = await pullAll(app, headers, `${name}=${all[1].updated}`)
    const notes = pages.flatMap((page) => page.notes)
    t.same(notes.map((note: { noteId: string }) => note.noteId), ['n0'], name)
    t.equal(notes[0].title, 'later')
  }
  const everything = await pullAll(app, headers, 'lastUpdated=0&limit=1')
  t.same(everything.pages.flatMap((page) => page.notes).map((note: { noteId: string }) => note.noteId), ['n1', 'n0'])
  t.ok(watermark > 0)
})

t.test('GET /notes with lastUpdated continues by cursor', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await pushNotes(app, headers, 3)

  const { pages, cursor } = await pullAll(app, headers, 'lastUpdated=0&limit=2')
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'late' } })
  const after = await pullAll(app, headers, 'limit=2', cursor)

  t.equal(pages.flatMap((page) => page.notes).length, 3)
  t.same(after.pages.flatMap((page) => page.notes).map((note: { noteId: string }) => note.noteId), ['late'])
  const idle = await pullAll(app, headers, '', after.cursor)
  t.same(idle.pages[0].notes, [])
})

t.test('GET /notes rejects conflicting positions', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const cursor = encodeCursor('alice', { kind: 'seq', seq: 0 })

  for (const query of [`cursor=${cursor}&lastUpdated=1`, 'lastUpdated=1&updated=2']) {
    const response = await app.inject({ method: 'GET', url: `/notes?${query}`, headers })
    t.equal(response.statusCode, 400, query)
    t.match(response.json().message, /only one/)
  }
})

t.test('GET /notes rejects invalid lastUpdated', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')

  for (const value of ['-1', '1.5', '1e3', '0x10', '', 'now', '9007199254740993']) {
    const response = await app.inject({ method: 'GET', url: `/notes?lastUpdated=${value}`, headers })
    t.equal(response.statusCode, 400, `lastUpdated=${value}`)
    t.match(response.json().message, /lastUpdated/)
  }
})
