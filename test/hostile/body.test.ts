import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { BODY_LIMIT_BYTES } from '../../src/app.js'
import { MAX_ITEM_BYTES, itemSizeUpperBound } from '../../src/notes/item-size.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'
import { BURST_SETTINGS, listenOnLoopback, printable, pullAll, scanNotes, sendRaw, type PulledNote } from '../helpers/hostile.js'

const USER = 'alice'

async function buildBodyApp (t: Test) {
  const testApp = await buildTestApp(t, BURST_SETTINGS)
  const auth = await authHeaders(USER)
  return {
    ...testApp,
    auth,
    /** POST /notes with the body exactly as given. */
    push: (payload: string | Buffer, contentType = 'application/json') => testApp.app.inject({
      method: 'POST', url: '/notes', headers: { ...auth, 'content-type': contentType }, payload,
    }),
    storedNoteIds: async () => (await scanNotes(testApp.app, testApp.tableName)).map((item) => item.noteId).sort(),
    pull: () => pullAll(testApp.app, auth),
  }
}

function assertError (t: Test, response: LightMyRequestResponse, status: number, code: string, label: string): void {
  t.equal(response.statusCode, status, `${label}: status`)
  t.equal(response.json().code, code, `${label}: code`)
}

/**
 * Quote text as a JSON string with every character below U+0020 and from
 * U+007F to U+009F written as an upper-case \u escape, even where JSON has a
 * short form such as \n. The text must not contain `"` or `\`.
 */
function quoteWithEscapes (text: string): string {
  return `"${text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`)}"`
}

/** Write every character outside ASCII as a \u escape, one per UTF-16 code unit. */
function escapeNonAscii (json: string): string {
  return json.replace(/[^\u0000-\u007f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function codePointRange (first: number, last: number): string[] {
  return Array.from({ length: last - first + 1 }, (_, index) => String.fromCharCode(first + index))
}

const CONTROL_CHARACTERS = [...codePointRange(0x00, 0x1f), ...codePointRange(0x7f, 0x9f)]

function hex (char: string): string {
  return char.charCodeAt(0).toString(16).padStart(2, '0')
}

function byNoteId (notes: PulledNote[]): Map<string, PulledNote> {
  return new Map(notes.map((note) => [note.noteId, note]))
}

t.test('blank bodies are INVALID_JSON', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)

  for (const payload of [' ', '\n', '\r\n', '\t', ' \t\r\n ']) {
    const response = await push(payload)
    assertError(t, response, 400, 'INVALID_JSON', `body ${printable(payload)}`)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('JSON that is not an object', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  const payloads = [
    'false', '0', '-1', '1e400', '""', ' null ',
    // A note wrapped in an array or in a string must not be unwrapped.
    '[{"noteId":"wrapped"}]', '"{\\"noteId\\":\\"wrapped\\"}"', '[null]', '[[]]',
  ]

  for (const payload of payloads) {
    const response = await push(payload)
    assertError(t, response, 400, 'INVALID_REQUEST', payload)
    t.match(response.json().message, /JSON object/, `${payload}: message`)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('every truncation is INVALID_JSON', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  const full = '{"noteId":"cut","title":"t\\u00e9","content":"c\\n","isDeleted":false,"version":0}'

  for (let length = 1; length < full.length; length++) {
    const payload = full.slice(0, length)
    assertError(t, await push(payload), 400, 'INVALID_JSON', `prefix ${printable(payload)}`)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('malformed JSON is INVALID_JSON', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  const valid = '{"noteId":"bad"}'
  const payloads = [
    // Trailing garbage after a valid object.
    ...['x', '}', ',', '{}', '[]', '"', 'null', '\u0000', '\u00a0', '\ufeff', '//', '/* */'].map((tail) => valid + tail),
    // Single quotes.
    "{'noteId':'bad'}", '{"noteId":\'bad\'}',
    // Values JSON does not have.
    '{"noteId":"bad","version":NaN}', '{"noteId":"bad","version":Infinity}',
    '{"noteId":"bad","version":-Infinity}', '{"noteId":"bad","title":undefined}',
    // Comments.
    '{"noteId":"bad"/* c */}', '{"noteId":"bad"}// c', '// c\n{"noteId":"bad"}', '/* c */{"noteId":"bad"}',
    '{"noteId":"bad",// c\n"title":"t"}', '# c\n{"noteId":"bad"}',
    // Other syntax of JavaScript or JSON5.
    '{"noteId":"bad",}', '{noteId:"bad"}', '{"noteId":"bad","version":0x1}', '{"noteId":"bad","version":01}',
    '{"noteId":"bad","version":+1}', '{"noteId":"bad","version":.5}', '{"noteId":"bad","version":1.}',
    '{"noteId":"bad","title":"\\x41"}', '{"noteId":"bad","title":"\\u12"}', '{"noteId":"bad","title":"\\\'"}',
    '{"noteId":"bad","title":"a" "b"}', '{"noteId" "bad"}', '{"noteId":"bad"}{"noteId":"bad"}',
    // Byte order marks anywhere but the first character.
    '\ufeff\ufeff{"noteId":"bad"}', '{\ufeff"noteId":"bad"}', ' \ufeff{"noteId":"bad"}',
  ]

  for (const payload of payloads) {
    assertError(t, await push(payload), 400, 'INVALID_JSON', printable(payload))
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('raw control characters are INVALID_JSON', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)

  // JSON requires U+0000 to U+001F inside strings to be escaped.
  for (const char of codePointRange(0x00, 0x1f)) {
    const payload = `{"noteId":"raw-${hex(char)}","title":"a${char}b"}`
    assertError(t, await push(payload), 400, 'INVALID_JSON', `raw U+00${hex(char)}`)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('leading byte order mark is ignored', async (t) => {
  const { push, pull } = await buildBodyApp(t)

  const asText = await push('\ufeff{"noteId":"bom-text","title":"t"}')
  const asBytes = await push(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"noteId":"bom-bytes","title":"t"}')]))

  t.equal(asText.statusCode, 201, 'BOM as text')
  t.equal(asBytes.statusCode, 201, 'BOM as bytes')
  const notes = await pull()
  t.same(notes.map((note) => [note.noteId, note.title]), [['bom-text', 't'], ['bom-bytes', 't']])
})

t.test('invalid UTF-8 bytes are INVALID_JSON', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  // JSON text must be UTF-8 (RFC 8259, section 8.1). Decoding these bytes
  // replaces them with U+FFFD, which would store text the client never sent.
  const sequences: Array<[string, number[]]> = [
    ['lone continuation byte', [0x80]],
    ['byte 0xFF', [0xff]],
    ['overlong "/"', [0xc0, 0xaf]],
    ['UTF-8 encoded surrogate', [0xed, 0xa0, 0x80]],
    ['truncated 3-byte sequence', [0xe2, 0x82]],
    ['latin1 "é"', [0xe9]],
    ['code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ]

  for (const [label, bytes] of sequences) {
    const payload = Buffer.concat([
      Buffer.from(`{"noteId":"utf8-${bytes.length}-${bytes[0]}","content":"caf`),
      Buffer.from(bytes),
      Buffer.from('"}'),
    ])
    assertError(t, await push(payload), 400, 'INVALID_JSON', label)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('duplicate keys keep the last value', async (t) => {
  const { push, pull } = await buildBodyApp(t)
  // JSON.parse keeps the last of duplicate keys, and so does the server:
  // the request is validated and stored as if only the last one were sent.
  const cases: Array<[string, number]> = [
    ['{"noteId":"dup-first","noteId":"dup-last"}', 201],
    ['{"noteId":"dup-title","title":"first","title":"last"}', 201],
    ['{"noteId":"dup-deleted","isDeleted":true,"isDeleted":false}', 201],
    ['{"noteId":"dup-content","content":"a","content":"b","content":"c"}', 201],
    ['{"noteId":"dup-fixed","title":5,"title":"valid"}', 201],
    ['{"noteId":"dup-broken","title":"valid","title":5}', 400],
    ['{"noteId":"dup-version","version":7,"version":0}', 201],
    ['{"noteId":"dup-version-broken","version":0,"version":-1}', 400],
    ['{"noteId":"dup-text","title":"\\ud800","title":"ok"}', 201],
    ['{"noteId":"dup-text-broken","title":"ok","title":"\\ud800"}', 400],
    ['{"noteId":"dup-id-broken","noteId":"#sync"}', 400],
  ]

  const expected = new Map<string, Record<string, unknown>>()
  for (const [payload, status] of cases) {
    const response = await push(payload)
    t.equal(response.statusCode, status, payload)
    if (status !== 201) continue
    const sent = { title: '', content: '', isDeleted: false, ...JSON.parse(payload) }
    const { title, content, isDeleted, noteId } = response.json()
    const expectedNote = { noteId: sent.noteId, title: sent.title, content: sent.content, isDeleted: sent.isDeleted }
    t.same({ noteId, title, content, isDeleted }, expectedNote, `${payload}: response`)
    expected.set(sent.noteId, expectedNote)
  }

  const stored = (await pull()).map(({ noteId, title, content, isDeleted }) => ({ noteId, title, content, isDeleted }))
  t.same(stored, [...expected.values()], 'only the last values are stored')
})

t.test('prototype keys are INVALID_JSON', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  const payloads = [
    '{"noteId":"proto-top","__proto__":{"isDeleted":true}}',
    '{"__proto__":{"noteId":"proto-first"},"noteId":"proto-first"}',
    '{"noteId":"proto-null","__proto__":null}',
    '{"noteId":"proto-nested","extra":{"__proto__":{"polluted":true}}}',
    '{"noteId":"proto-array","extra":[1,{"__proto__":{"polluted":true}}]}',
    '{"noteId":"proto-deep","extra":{"a":{"b":{"__proto__":{}}}}}',
    '{"noteId":"proto-escaped","\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true}}',
    '{"noteId":"proto-partly-escaped","__pr\\u006fto__":{"polluted":true}}',
    '{"noteId":"ctor-top","constructor":{"prototype":{"polluted":true}}}',
    '{"noteId":"ctor-nested","extra":{"constructor":{"prototype":{"polluted":true}}}}',
    '{"noteId":"ctor-array","extra":[{"constructor":{"prototype":{"polluted":true}}}]}',
    '{"noteId":"ctor-escaped","constructor":{"\\u0070rototype":{"polluted":true}}}',
    '{"noteId":"ctor-escaped-outer","\\u0063onstructor":{"prototype":{"polluted":true}}}',
  ]

  for (const payload of payloads) {
    assertError(t, await push(payload), 400, 'INVALID_JSON', payload)
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
  t.equal(({} as Record<string, unknown>).isDeleted, undefined, 'Object.prototype has no isDeleted')
})

t.test('prototype key error names the key', async (t) => {
  const { push } = await buildBodyApp(t)
  // The README lists these keys as their own reason for INVALID_JSON. The
  // body is valid JSON, so "not valid JSON" would send the client looking
  // for a syntax error.
  const payloads = [
    '{"noteId":"proto-top","__proto__":{"isDeleted":true}}',
    '{"noteId":"ctor-top","constructor":{"prototype":{"polluted":true}}}',
  ]

  for (const payload of payloads) {
    const response = await push(payload)
    t.match(response.json().message, /__proto__|constructor\.prototype/, payload)
  }
})

t.test('keys resembling prototype keys are accepted', async (t) => {
  const { push, pull } = await buildBodyApp(t)
  const payloads = [
    '{"noteId":"ctor-alone","constructor":{}}',
    '{"noteId":"prototype-alone","prototype":{"polluted":true}}',
    '{"noteId":"proto-short","__proto":{}}',
    '{"noteId":"proto-text","title":"__proto__","content":"constructor.prototype"}',
  ]

  for (const payload of payloads) {
    t.equal((await push(payload)).statusCode, 201, payload)
  }
  const notes = await pull()
  t.same(notes.map((note) => note.noteId), ['ctor-alone', 'prototype-alone', 'proto-short', 'proto-text'])
  t.equal(notes[3]?.title, '__proto__', 'text naming a key is stored as text')
})

t.test('wrong field types are INVALID_REQUEST', async (t) => {
  const { app, auth, storedNoteIds } = await buildBodyApp(t)
  const valuesByType: Record<string, unknown[]> = {
    null: [null],
    number: [0, 1, -1.5, 1e21],
    boolean: [true, false],
    string: ['', 'true', '1', 'text'],
    array: [[], ['text'], [true], [1]],
    object: [{}, { value: 'text' }, { noteId: 'typed' }],
  }
  const fieldTypes: Record<string, string> = {
    noteId: 'string', title: 'string', content: 'string', isDeleted: 'boolean', version: 'number',
  }

  for (const [field, rightType] of Object.entries(fieldTypes)) {
    for (const [type, values] of Object.entries(valuesByType)) {
      if (type === rightType) continue
      for (const value of values) {
        const payload = { noteId: 'typed', title: 'kept', content: 'kept', isDeleted: false, [field]: value }
        const response = await app.inject({ method: 'POST', url: '/notes', headers: auth, payload })
        const label = `${field} = ${JSON.stringify(value)}`
        assertError(t, response, 400, 'INVALID_REQUEST', label)
        t.match(response.json().message, `"${field}"`, `${label}: message names the field`)
      }
    }
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('control characters round-trip', async (t) => {
  const { push, pull, app, tableName } = await buildBodyApp(t)
  const sent = new Map<string, { title: string, content: string }>()
  type Note = { noteId: string, title: string, content: string }
  const encodings: Array<[string, (note: Note) => string]> = [
    ['json', (note) => JSON.stringify(note)],
    ['escaped', (note) => `{"noteId":"${note.noteId}","title":${quoteWithEscapes(note.title)},"content":${quoteWithEscapes(note.content)}}`],
  ]

  for (const char of CONTROL_CHARACTERS) {
    for (const [encoding, encode] of encodings) {
      const note = { noteId: `ctl-${encoding}-${hex(char)}`, title: `t${char}`, content: `${char}c${char}${char}` }
      const response = await push(encode(note))
      t.equal(response.statusCode, 201, `U+00${hex(char)} ${encoding}: status`)
      t.equal(response.json().content, note.content, `U+00${hex(char)} ${encoding}: response`)
      sent.set(note.noteId, note)
    }
  }
  const all = { noteId: 'ctl-all', title: CONTROL_CHARACTERS.join(''), content: CONTROL_CHARACTERS.join('x') }
  t.equal((await push(JSON.stringify(all))).statusCode, 201, 'all in one note')
  sent.set(all.noteId, all)

  const pulled = byNoteId(await pull())
  const scanned = new Map((await scanNotes(app, tableName)).map((item) => [item.noteId, item]))
  for (const [noteId, note] of sent) {
    t.equal(pulled.get(noteId)?.title, note.title, `${noteId}: pulled title`)
    t.equal(pulled.get(noteId)?.content, note.content, `${noteId}: pulled content`)
    t.equal(scanned.get(noteId)?.content, note.content, `${noteId}: stored content`)
  }
})

t.test('lone surrogates are INVALID_TEXT', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  const texts: Array<[string, string]> = [
    ['high surrogate', '\ud800'],
    ['low surrogate', '\udc00'],
    ['highest high surrogate', '\udbff'],
    ['highest low surrogate', '\udfff'],
    ['reversed pair', '\ude00\ud83d'],
    ['high surrogate at the end', 'text\ud83d'],
    ['low surrogate at the start', '\ude00text'],
    ['two high surrogates', '\ud83d\ud83d'],
    ['pair then high surrogate', '\ud83d\ude00\ud800'],
  ]

  for (const field of ['title', 'content']) {
    for (const [label, text] of texts) {
      // JSON.stringify writes a lone surrogate as a \u escape.
      const response = await push(JSON.stringify({ noteId: 'lone', [field]: text }))
      assertError(t, response, 400, 'INVALID_TEXT', `${field}: ${label}`)
      t.match(response.json().message, `"${field}"`, `${field}: ${label}: message names the field`)
    }
  }
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('surrogate pairs round-trip', async (t) => {
  const { push, pull } = await buildBodyApp(t)
  const texts = [
    '😀', '𝄞', '\ud800\udc00', '\udbff\udfff', '👩‍👩‍👧', 'e\u0301', '\ufffe\uffff', '\ufeffinner\ufeff', '\u2028\u2029', '\ufffd',
  ]
  const sent = new Map<string, string>()

  for (const [index, text] of texts.entries()) {
    for (const [encoding, encode] of [['raw', (json: string) => json], ['escaped', escapeNonAscii]] as const) {
      const noteId = `pair-${encoding}-${index}`
      const response = await push(encode(JSON.stringify({ noteId, title: text, content: text })))
      t.equal(response.statusCode, 201, `${printable(text)} ${encoding}: status`)
      sent.set(noteId, text)
    }
  }

  const pulled = byNoteId(await pull())
  for (const [noteId, text] of sent) {
    t.equal(pulled.get(noteId)?.title, text, `${noteId}: title`)
    t.equal(pulled.get(noteId)?.content, text, `${noteId}: content`)
  }
})

/** Bytes of a stored note besides its title and content, as the size check counts them. */
function overheadBytes (noteId: string): number {
  return itemSizeUpperBound({
    userId: USER, noteId, title: '', content: '', isDeleted: false, version: 0, seq: 0, updated: 0, createdAt: 0, expiresAt: 0,
  })
}

t.test('item limit counts UTF-8 bytes', async (t) => {
  const { push, pull } = await buildBodyApp(t)
  const accepted = new Map<string, { title: string, content: string }>()

  for (const char of ['x', 'é', '€', '😀']) {
    const width = Buffer.byteLength(char)
    const id = (name: string) => `w${width}-${name}`
    // Bytes left for title and content, and how many `char` fit in them.
    const room = (noteId: string) => MAX_ITEM_BYTES - overheadBytes(noteId)
    const count = (noteId: string) => Math.floor(room(noteId) / width)
    const pad = (noteId: string) => 'x'.repeat(room(noteId) - count(noteId) * width)

    const atLimit = { noteId: id('at'), title: '', content: pad(id('at')) + char.repeat(count(id('at'))) }
    const half = Math.floor(count(id('split')) / 2)
    const split = {
      noteId: id('split'),
      title: char.repeat(half),
      content: pad(id('split')) + char.repeat(count(id('split')) - half),
    }
    const byteOver = { noteId: id('byte-over'), title: '', content: 'x' + pad(id('byte-over')) + char.repeat(count(id('byte-over'))) }
    const charOver = { noteId: id('char-over'), title: '', content: char.repeat(count(id('char-over')) + 1) }
    const titleOver = { noteId: id('title-over'), title: char.repeat(count(id('title-over')) + 1), content: '' }

    for (const note of [atLimit, split]) {
      const response = await push(JSON.stringify(note))
      t.equal(response.statusCode, 201, `${note.noteId}: status`)
      accepted.set(note.noteId, note)
    }
    for (const note of [byteOver, charOver, titleOver]) {
      const bytes = overheadBytes(note.noteId) + Buffer.byteLength(note.title) + Buffer.byteLength(note.content)
      const response = await push(JSON.stringify(note))
      assertError(t, response, 413, 'NOTE_TOO_LARGE', note.noteId)
      t.match(response.json().message, `"${note.noteId}" would take ${bytes} bytes`, `${note.noteId}: message`)
    }
    // An oversize edit of a stored note leaves it as it was.
    const oversizeEdit = await push(JSON.stringify({ ...atLimit, title: char }))
    assertError(t, oversizeEdit, 413, 'NOTE_TOO_LARGE', `${atLimit.noteId} oversize edit`)
  }

  const pulled = await pull()
  t.same(pulled.map((note) => note.noteId), [...accepted.keys()], 'only notes within the limit are stored')
  for (const note of pulled) {
    const sent = accepted.get(note.noteId)
    t.equal(note.title, sent?.title, `${note.noteId}: title intact`)
    t.equal(note.content, sent?.content, `${note.noteId}: content intact`)
    t.equal(note.version, 1, `${note.noteId}: never replaced`)
  }
})

t.test('body limit counts bytes', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  const note = '{"noteId":"edge"}'

  const atLimit = await push(note + ' '.repeat(BODY_LIMIT_BYTES - note.length))
  const overLimit = await push(note + ' '.repeat(BODY_LIMIT_BYTES - note.length + 1))
  const invalidOverLimit = await push('x'.repeat(BODY_LIMIT_BYTES + 1))
  const emoji = '😀'.repeat(Math.ceil(BODY_LIMIT_BYTES / 4))
  const wide = `{"noteId":"wide","content":"${emoji}"}`
  const wideOverLimit = await push(wide)

  t.equal(atLimit.statusCode, 201, 'body of exactly the limit is read')
  assertError(t, overLimit, 413, 'BODY_TOO_LARGE', 'one byte over')
  assertError(t, invalidOverLimit, 413, 'BODY_TOO_LARGE', 'invalid JSON over the limit')
  t.ok(wide.length < BODY_LIMIT_BYTES, 'fewer UTF-16 code units than the limit')
  assertError(t, wideOverLimit, 413, 'BODY_TOO_LARGE', 'more UTF-8 bytes than the limit')
  t.same(await storedNoteIds(), ['edge'], 'only the body within the limit is stored')
})

t.test('escaped control characters exceed body limit', async (t) => {
  const { push, storedNoteIds } = await buildBodyApp(t)
  // JSON writes U+0001 as 6 bytes, so a note of 140 000 of them takes
  // 140 KB as an item but 840 000 bytes as a body, over BODY_LIMIT_BYTES.
  const content = '\u0001'.repeat(140_000)
  const payload = JSON.stringify({ noteId: 'escaped', content })

  const response = await push(payload)

  t.ok(overheadBytes('escaped') + content.length < MAX_ITEM_BYTES, 'the note fits in an item')
  t.ok(Buffer.byteLength(payload) > BODY_LIMIT_BYTES, 'the body does not fit')
  assertError(t, response, 413, 'BODY_TOO_LARGE', 'escaped body')
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('body limit holds without Content-Length', async (t) => {
  const { app, auth, storedNoteIds } = await buildBodyApp(t)
  const port = await listenOnLoopback(app)
  const head = 'POST /notes HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n' +
    `Authorization: ${auth.authorization}\r\nContent-Type: application/json\r\n`
  const chunk = `{"noteId":"chunked","content":"${'x'.repeat(BODY_LIMIT_BYTES)}"}`

  const chunked = await sendRaw(port, `${head}Transfer-Encoding: chunked\r\n\r\n` +
    `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`)
  const declared = await sendRaw(port, `${head}Content-Length: ${BODY_LIMIT_BYTES + 1}\r\n\r\n{"noteId":"declared"}`)

  t.equal(chunked.statusCode, 413, 'chunked body: status')
  t.equal(JSON.parse(chunked.body).code, 'BODY_TOO_LARGE', 'chunked body: code')
  t.equal(declared.statusCode, 413, 'Content-Length over the limit: status')
  t.equal(JSON.parse(declared.body).code, 'BODY_TOO_LARGE', 'Content-Length over the limit: code')
  t.same(await storedNoteIds(), [], 'nothing stored')
})

t.test('version number forms', async (t) => {
  const { push, pull } = await buildBodyApp(t)
  // Each form is sent as the version of a note stored at version 1.
  const forms: Array<[string, 'applies' | 'conflict' | 'invalid']> = [
    ['1.0', 'applies'], ['1e0', 'applies'], ['1E0', 'applies'], ['1e+0', 'applies'], ['0.1e1', 'applies'],
    ['10e-1', 'applies'], ['1.0000000000000001', 'applies'], ['0.99999999999999999', 'applies'],
    ['2', 'conflict'], ['2.0', 'conflict'], ['2e0', 'conflict'], ['0', 'conflict'], ['-0', 'conflict'],
    ['0e0', 'conflict'], ['0.0', 'conflict'], ['1e-400', 'conflict'], ['9007199254740991', 'conflict'],
    ['-1', 'invalid'], ['-0.5', 'invalid'], ['0.5', 'invalid'], ['1.5', 'invalid'], ['1.0000001', 'invalid'],
    ['5e-324', 'invalid'], ['-9007199254740991', 'invalid'], ['9007199254740992', 'invalid'],
    ['9007199254740993', 'invalid'], ['18446744073709551616', 'invalid'], ['1e16', 'invalid'], ['1e21', 'invalid'],
    ['1e308', 'invalid'], ['1e400', 'invalid'], ['-1e400', 'invalid'], ['1' + '0'.repeat(400), 'invalid'],
  ]

  for (const [index, [form, outcome]] of forms.entries()) {
    const noteId = `version-${index}`
    const created = await push(`{"noteId":"${noteId}","title":"first"}`)
    const response = await push(`{"noteId":"${noteId}","title":"edit","version":${form}}`)
    const label = `version ${form.slice(0, 24)}`

    t.equal(created.statusCode, 201, `${label}: created`)
    if (outcome === 'applies') {
      t.equal(response.statusCode, 200, `${label}: status`)
      t.equal(response.json().version, 2, `${label}: new version`)
    } else if (outcome === 'conflict') {
      assertError(t, response, 409, 'VERSION_CONFLICT', label)
      t.equal(response.json().current?.version, 1, `${label}: current`)
    } else {
      assertError(t, response, 400, 'INVALID_REQUEST', label)
      t.match(response.json().message, '"version"', `${label}: message names the field`)
    }
  }
  const createdNegativeZero = await push('{"noteId":"version-new","version":-0}')
  t.equal(createdNegativeZero.statusCode, 201, '-0 creates a missing note')

  const pulled = byNoteId(await pull())
  for (const [index, [form, outcome]] of forms.entries()) {
    const note = pulled.get(`version-${index}`)
    t.equal(note?.title, outcome === 'applies' ? 'edit' : 'first', `version ${form.slice(0, 24)}: stored title`)
  }
})
