import { gzipSync } from 'node:zlib'
import t, { type Test } from 'tap'
import { authHeaders, buildTestApp } from '../helpers/app.js'
import {
  BURST_SETTINGS,
  DOCUMENTED_CODES,
  listenOnLoopback,
  printable,
  pullAll,
  scanNotes,
  sendRaw,
} from '../helpers/hostile.js'

async function buildContentTypeApp (t: Test) {
  const testApp = await buildTestApp(t, BURST_SETTINGS)
  const auth = await authHeaders('alice')
  return {
    ...testApp,
    auth,
    /** POST /notes with the body as given. An undefined content type sends no Content-Type header. */
    push: (contentType: string | undefined, payload: string | Buffer) => testApp.app.inject({
      method: 'POST',
      url: '/notes',
      headers: contentType === undefined ? auth : { ...auth, 'content-type': contentType },
      payload,
    }),
    storedNoteIds: async () => (await scanNotes(testApp.app, testApp.tableName)).map((item) => item.noteId).sort(),
  }
}

const MULTIPART_BODY = '--x\r\nContent-Disposition: form-data; name="noteId"\r\n\r\nform\r\n--x--\r\n'

t.test('unsupported media types are 415', async (t) => {
  const { push, storedNoteIds } = await buildContentTypeApp(t)
  const json = '{"noteId":"unsupported"}'
  const cases: Array<[string | undefined, string]> = [
    ['application/x-www-form-urlencoded', 'noteId=unsupported'],
    ['application/x-www-form-urlencoded', json],
    ['multipart/form-data; boundary=x', MULTIPART_BODY],
    ['multipart/form-data', json],
    ['text/plain', json],
    ['text/plain; charset=utf-8', json],
    ['application/xml', '<note><noteId>unsupported</noteId></note>'],
    ['text/xml', '<note><noteId>unsupported</noteId></note>'],
    ['text/html', json],
    ['application/octet-stream', json],
    ['application/vnd.api+json', json],
    ['application/ld+json', json],
    ['application/problem+json', json],
    ['application/merge-patch+json', json],
    ['application/json-patch+json', json],
    ['text/json', json],
    ['application/x-json', json],
    ['application/jsonx', json],
    ['application/json5', json],
    ['*/*', json],
    ['application/*', json],
    [undefined, json],
  ]

  for (const [contentType, payload] of cases) {
    const response = await push(contentType, payload)
    const label = contentType ?? 'no Content-Type'
    t.equal(response.statusCode, 415, `${label}: status`)
    t.equal(response.json().code, 'UNSUPPORTED_MEDIA_TYPE', `${label}: code`)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('malformed Content-Type headers are 415', async (t) => {
  const { push, storedNoteIds } = await buildContentTypeApp(t)
  const contentTypes = [
    '', 'application/', ';;', ';', ',', 'json', '/json', 'application', 'application/json/x', 'application json',
    'application/json, text/plain', 'text/plain, application/json', '"application/json"',
    `application/${'x'.repeat(10_000)}`, ';'.repeat(10_000), 'x'.repeat(10_000),
  ]

  for (const contentType of contentTypes) {
    const response = await push(contentType, '{"noteId":"malformed"}')
    const label = printable(contentType.slice(0, 40))
    t.equal(response.statusCode, 415, `${label}: status`)
    t.equal(response.json().code, 'UNSUPPORTED_MEDIA_TYPE', `${label}: code`)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('JSON media type spellings are accepted', async (t) => {
  const { push, storedNoteIds } = await buildContentTypeApp(t)
  // Media types and parameter names are case-insensitive (RFC 9110,
  // section 8.3.1), and parameters other than charset carry no meaning here.
  const contentTypes = [
    'application/json;charset=UTF-8',
    'application/json; charset="utf-8"',
    'APPLICATION/JSON',
    'Application/Json; Charset=UTF-8',
    ' application/json',
    'application/json ',
    'application/json;',
    'application/json; boundary=x',
    `application/json; ${'name=value; '.repeat(800)}`,
  ]

  const expected: string[] = []
  for (const [index, contentType] of contentTypes.entries()) {
    const noteId = `spelling-${index}`
    const response = await push(contentType, `{"noteId":"${noteId}","title":"t"}`)
    t.equal(response.statusCode, 201, `${printable(contentType.slice(0, 40))}: status`)
    expected.push(noteId)
  }
  t.same(await storedNoteIds(), expected.sort(), 'every spelling stored')
})

t.test('declared charsets never corrupt text', async (t) => {
  const { app, auth, push } = await buildContentTypeApp(t)
  // A charset the server does not decode must be rejected with a 4xx. A 2xx
  // must store exactly the text the client encoded.
  const cases: Array<[string, string, Buffer, string]> = [
    ['latin1 ASCII', 'application/json; charset=latin1', Buffer.from('{"noteId":"latin1-ascii","content":"cafe"}', 'latin1'), 'cafe'],
    ['latin1 "é"', 'application/json; charset=latin1', Buffer.from('{"noteId":"latin1-e","content":"café"}', 'latin1'), 'café'],
    ['ISO-8859-1 "é"', 'application/json; charset=ISO-8859-1', Buffer.from('{"noteId":"iso-e","content":"café"}', 'latin1'), 'café'],
    ['UTF-16LE', 'application/json; charset=utf-16', Buffer.from('{"noteId":"utf16","content":"café"}', 'utf16le'), 'café'],
  ]

  for (const [label, contentType, payload, content] of cases) {
    const response = await push(contentType, payload)
    if (response.statusCode < 300) {
      const noteId = response.json().noteId
      const stored = (await pullAll(app, auth)).find((note) => note.noteId === noteId)
      t.equal(stored?.content, content, `${label}: stored as sent`)
    } else {
      t.ok(response.statusCode >= 400 && response.statusCode < 500, `${label}: 4xx, got ${response.statusCode}`)
      t.ok(DOCUMENTED_CODES.has(response.json().code), `${label}: documented code`)
    }
  }
})

t.test('compressed bodies are rejected', async (t) => {
  const { app, auth, storedNoteIds } = await buildContentTypeApp(t)

  const response = await app.inject({
    method: 'POST',
    url: '/notes',
    headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
    payload: gzipSync('{"noteId":"gzip"}'),
  })

  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'INVALID_JSON')
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('empty body without Content-Type is 400', async (t) => {
  const { app, auth, storedNoteIds } = await buildContentTypeApp(t)

  const response = await app.inject({ method: 'POST', url: '/notes', headers: auth })

  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'INVALID_REQUEST')
  t.match(response.json().message, /JSON object/)
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('duplicate Content-Type lines use the first', async (t) => {
  const { app, auth, storedNoteIds } = await buildContentTypeApp(t)
  const port = await listenOnLoopback(app)
  // Node keeps the first of repeated Content-Type lines and drops the rest.
  const request = (noteId: string, lines: string[]) => {
    const body = `{"noteId":"${noteId}"}`
    return 'POST /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' +
      `Authorization: ${auth.authorization}\r\n${lines.map((line) => `${line}\r\n`).join('')}` +
      `Content-Length: ${body.length}\r\n\r\n${body}`
  }

  const textFirst = await sendRaw(port, request('text-first', ['Content-Type: text/plain', 'Content-Type: application/json']))
  const jsonFirst = await sendRaw(port, request('json-first', ['Content-Type: application/json', 'Content-Type: text/plain']))

  t.equal(textFirst.statusCode, 415, 'text/plain first: status')
  t.equal(JSON.parse(textFirst.body).code, 'UNSUPPORTED_MEDIA_TYPE', 'text/plain first: code')
  t.equal(jsonFirst.statusCode, 201, 'application/json first: status')
  t.same(await storedNoteIds(), ['json-first'])
})

t.test('GET /notes ignores request bodies', async (t) => {
  const { app, auth } = await buildContentTypeApp(t)
  const cases: Array<[string, string]> = [
    ['text/plain', 'text'],
    ['application/json', '{'],
    ['application/xml', '<x/>'],
  ]

  for (const [contentType, payload] of cases) {
    const response = await app.inject({
      method: 'GET', url: '/notes', headers: { ...auth, 'content-type': contentType }, payload,
    })
    t.equal(response.statusCode, 200, contentType)
  }
})
