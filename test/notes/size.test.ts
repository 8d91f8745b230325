import t from 'tap'
import { BODY_LIMIT_BYTES } from '../../src/app.js'
import { MAX_ITEM_BYTES, itemSizeUpperBound } from '../../src/notes/item-size.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'

/** Bytes of a stored note besides its content, as the size check counts them. */
function overheadBytes (userId: string, noteId: string): number {
  return itemSizeUpperBound({
    userId, noteId, title: '', content: '', isDeleted: false, version: 0, seq: 0, updated: 0, createdAt: 0, expiresAt: 0,
  })
}

t.test('item size counts UTF-8 bytes', async (t) => {
  t.equal(itemSizeUpperBound({ a: 'é' }), 3)
  t.equal(itemSizeUpperBound({ a: '😀' }), 5)
  t.equal(itemSizeUpperBound({ a: 1 }), 22)
  t.equal(itemSizeUpperBound({ a: true }), 2)
})

t.test('POST /notes just under the item limit round-trips', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const content = 'x'.repeat(MAX_ITEM_BYTES - overheadBytes('alice', 'big'))

  const pushed = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'big', content } })
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })

  t.equal(pushed.statusCode, 201)
  t.equal(pulled.json().notes[0].content, content, 'read back intact')
})

t.test('POST /notes one byte over the limit is 413', async (t) => {
  let storeCalls = 0
  const { app } = await buildTestApp(t)
  app.store.client.middlewareStack.add((next) => async (args) => {
    storeCalls++
    return next(args)
  }, { step: 'initialize', name: 'countCalls' })
  const headers = await authHeaders('alice')
  const content = 'x'.repeat(MAX_ITEM_BYTES - overheadBytes('alice', 'big') + 1)

  const response = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'big', content } })

  t.equal(response.statusCode, 413)
  t.equal(response.json().code, 'NOTE_TOO_LARGE')
  t.match(response.json().message, /"big".*409601 bytes.*409600/)
  t.equal(storeCalls, 0, 'DynamoDB is never called')
})

t.test('POST /notes counts 4-byte characters in bytes', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  // 110 000 emoji: 220 000 UTF-16 code units, 440 000 UTF-8 bytes.
  const content = '😀'.repeat(110_000)

  const response = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'emoji', content } })

  t.ok(content.length < BODY_LIMIT_BYTES)
  t.equal(response.statusCode, 413)
  t.equal(response.json().code, 'NOTE_TOO_LARGE')
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })
  t.same(pulled.json().notes, [], 'nothing stored')
})

t.test('POST /notes over the body limit is 413', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = { ...(await authHeaders('alice')), 'content-type': 'application/json' }
  const payload = JSON.stringify({ noteId: 'huge', content: 'x'.repeat(BODY_LIMIT_BYTES) })

  const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })

  t.equal(response.statusCode, 413)
  t.equal(response.json().code, 'BODY_TOO_LARGE')
})

t.test('body limit is sized from the item limit', async (t) => {
  t.equal(BODY_LIMIT_BYTES, 2 * MAX_ITEM_BYTES)
  t.ok(BODY_LIMIT_BYTES < 1024 * 1024, 'below Fastify\'s default of 1 MiB')
})

t.test('POST /notes with escaped text near the limit is accepted', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = { ...(await authHeaders('alice')), 'content-type': 'application/json' }
  // Newlines take two bytes in JSON and one in the item.
  const content = '\n'.repeat(MAX_ITEM_BYTES - overheadBytes('alice', 'lines'))
  const payload = JSON.stringify({ noteId: 'lines', content })

  const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })

  t.ok(payload.length > MAX_ITEM_BYTES)
  t.equal(response.statusCode, 201)
})
