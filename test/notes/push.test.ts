import t from 'tap'
import { authHeaders, buildTestApp } from '../helpers/app.js'

t.test('POST /notes with only noteId creates it with defaults', async (t) => {
  const { app } = await buildTestApp(t)
  const before = Date.now()

  const response = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: await authHeaders('alice'),
    payload: { noteId: 'n1' },
  })

  t.equal(response.statusCode, 201)
  const note = response.json()
  t.same(note, { noteId: 'n1', title: '', content: '', isDeleted: false, version: 1, updated: note.updated, createdAt: note.updated })
  t.ok(note.updated >= before, 'updated is server time')
})

t.test('POST /notes replaces a note and counts versions', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const push = (payload: object) => app.inject({ method: 'POST', url: '/notes', headers, payload })

  const first = await push({ noteId: 'n1', title: 'a', content: 'one' })
  const second = await push({ noteId: 'n1', title: 'b' })

  t.equal(first.statusCode, 201)
  t.equal(second.statusCode, 200)
  t.equal(second.json().version, 2)
  t.equal(second.json().title, 'b')
  t.equal(second.json().content, '', 'omitted fields take their defaults')
  t.equal(second.json().createdAt, first.json().createdAt)
})

t.test('POST /notes with the stored version applies', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n1' } })

  const response = await app.inject({
    method: 'POST', url: '/notes', headers, payload: { noteId: 'n1', title: 'x', version: 1 },
  })

  t.equal(response.statusCode, 200)
  t.equal(response.json().version, 2)
})

t.test('POST /notes with an older version is 409 with current', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const push = (payload: object) => app.inject({ method: 'POST', url: '/notes', headers, payload })
  await push({ noteId: 'n1', title: 'v1' })
  const stored = (await push({ noteId: 'n1', title: 'v2' })).json()

  const response = await push({ noteId: 'n1', title: 'stale edit', version: 1 })

  t.equal(response.statusCode, 409)
  const body = response.json()
  t.equal(body.code, 'VERSION_CONFLICT')
  t.equal(body.statusCode, 409)
  t.same(body.current, stored)
  t.match(body.message, /version 1 .* version 2/)
  const after = await app.inject({ method: 'GET', url: '/notes', headers })
  t.equal(after.json().notes[0].title, 'v2', 'the stale edit is not stored')
})

t.test('POST /notes with version 0 creates only', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const push = () => app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'n1', version: 0 } })

  const created = await push()
  const again = await push()

  t.equal(created.statusCode, 201)
  t.equal(again.statusCode, 409)
  t.equal(again.json().current.version, 1)
})

t.test('POST /notes with a version of a missing note is 409', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({
    method: 'POST', url: '/notes', headers: await authHeaders('alice'), payload: { noteId: 'n1', version: 3 },
  })

  t.equal(response.statusCode, 409)
  t.equal(response.json().current, null)
  t.match(response.json().message, /does not exist/)
})

t.test('POST /notes ignores server-owned fields', async (t) => {
  const { app } = await buildTestApp(t)
  const before = Date.now()

  const response = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: await authHeaders('alice'),
    payload: { noteId: 'n1', userId: 'mallory', updated: 1, createdAt: 2, seq: 999 },
  })

  t.equal(response.statusCode, 201)
  t.ok(response.json().updated >= before)
  t.ok(response.json().createdAt >= before)
  const mallory = await app.inject({ method: 'GET', url: '/notes', headers: await authHeaders('mallory') })
  t.same(mallory.json().notes, [], 'nothing is stored for the userId in the body')
  const alice = await app.inject({ method: 'GET', url: '/notes', headers: await authHeaders('alice') })
  t.equal(alice.json().notes.length, 1)
})

t.test('POST /notes rejects invalid noteIds', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const invalid = ['', 'x'.repeat(129), 'x'.repeat(10_000), 'a/b', 'a\nb', 'a b', '#sync', 'ä']

  for (const noteId of invalid) {
    const response = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId } })
    t.equal(response.statusCode, 400, `noteId ${JSON.stringify(noteId.slice(0, 20))}`)
    t.equal(response.json().code, 'INVALID_REQUEST')
    t.match(response.json().message, /noteId/)
  }
  const missing = await app.inject({ method: 'POST', url: '/notes', headers, payload: { title: 'x' } })
  t.equal(missing.statusCode, 400)
  t.match(missing.json().message, /"noteId" is missing/)

  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })
  t.same(pulled.json().notes, [], 'nothing stored')
})

t.test('POST /notes accepts every valid noteId character', async (t) => {
  const { app } = await buildTestApp(t)
  const noteId = 'Az09-_.:' + 'x'.repeat(120)

  const response = await app.inject({
    method: 'POST', url: '/notes', headers: await authHeaders('alice'), payload: { noteId },
  })

  t.equal(response.statusCode, 201)
  t.equal(response.json().noteId, noteId)
})

t.test('POST /notes rejects wrong field types without coercion', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const cases: Array<[string, unknown]> = [
    ['title', null],
    ['title', 5],
    ['content', false],
    ['content', ['a']],
    ['isDeleted', 'true'],
    ['isDeleted', 0],
    ['version', '1'],
    ['version', 1.5],
    ['version', -1],
    ['noteId', 42],
  ]

  for (const [field, value] of cases) {
    const payload = { noteId: 'n1', [field]: value }
    const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })
    t.equal(response.statusCode, 400, `${field} = ${JSON.stringify(value)}`)
    t.match(response.json().message, new RegExp(`"${field}"`))
  }
})

t.test('POST /notes rejects bodies that are not objects', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = { ...(await authHeaders('alice')), 'content-type': 'application/json' }

  for (const payload of ['null', '"text"', '[]', '42', 'true']) {
    const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })
    t.equal(response.statusCode, 400, payload)
    t.equal(response.json().code, 'INVALID_REQUEST')
  }
})

t.test('POST /notes with an empty JSON body is 400', async (t) => {
  const { app } = await buildTestApp(t)

  const response = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: { ...(await authHeaders('alice')), 'content-type': 'application/json' },
    payload: '',
  })

  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'INVALID_JSON')
  t.match(response.json().message, /empty/)
})

t.test('POST /notes with invalid JSON is 400', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = { ...(await authHeaders('alice')), 'content-type': 'application/json' }

  for (const payload of ['{', '{"noteId": }', "{'noteId':'a'}", '{"noteId":"a"} x']) {
    const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })
    t.equal(response.statusCode, 400, payload)
    t.equal(response.json().code, 'INVALID_JSON')
  }
})

t.test('POST /notes rejects prototype poisoning keys', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = { ...(await authHeaders('alice')), 'content-type': 'application/json' }
  const payloads = [
    '{"noteId":"a","__proto__":{"isAdmin":true}}',
    '{"noteId":"a","constructor":{"prototype":{"isAdmin":true}}}',
  ]

  for (const payload of payloads) {
    const response = await app.inject({ method: 'POST', url: '/notes', headers, payload })
    t.equal(response.statusCode, 400, payload)
    t.equal(response.json().code, 'INVALID_JSON')
  }
})

t.test('POST /notes content types', async (t) => {
  const { app } = await buildTestApp(t)
  const auth = await authHeaders('alice')
  const unsupported = [
    ['application/x-www-form-urlencoded', 'noteId=a'],
    ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="noteId"\r\n\r\na\r\n--x--'],
    ['text/plain', '{"noteId":"a"}'],
    ['application/xml', '<noteId>a</noteId>'],
  ]

  for (const [contentType, payload] of unsupported as Array<[string, string]>) {
    const response = await app.inject({
      method: 'POST', url: '/notes', headers: { ...auth, 'content-type': contentType }, payload,
    })
    t.equal(response.statusCode, 415, contentType)
    t.equal(response.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  }

  const withCharset = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: { ...auth, 'content-type': 'application/json; charset=utf-8' },
    payload: '{"noteId":"a"}',
  })
  t.equal(withCharset.statusCode, 201)
})

t.test('POST /notes with lone surrogates is 400', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = { ...(await authHeaders('alice')), 'content-type': 'application/json' }

  const response = await app.inject({
    method: 'POST', url: '/notes', headers, payload: '{"noteId":"a","content":"x\\ud800y"}',
  })

  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'INVALID_TEXT')
  t.match(response.json().message, /"content"/)
})

t.test('POST /notes stores text exactly', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const content = 'tab\tnewline\n nul\u0000 emoji 😀 quote " backslash \\ ünïcödé'

  const pushed = await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'a', title: '😀', content } })
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })

  t.equal(pushed.statusCode, 201)
  t.equal(pulled.json().notes[0].content, content)
  t.equal(pulled.json().notes[0].title, '😀')
})
