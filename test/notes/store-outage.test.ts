import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Server } from 'node:http'
import dynalite from 'dynalite'
import t from 'tap'
import { ensureTable } from '../../src/storage/create-table.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'
import { freePort } from '../helpers/process.js'
import { testClients } from '../helpers/store.js'

/** Start dynalite on a fixed port with its data on disk, so it can be stopped and started again. */
async function startDynalite (port: number, path: string): Promise<Server> {
  const server = dynalite({ path, createTableMs: 0 })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return server
}

function stopDynalite (server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}

t.test('store outage answers 503, then recovers', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-outage-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const port = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  let store = await startDynalite(port, dataDir)
  const { client } = testClients(endpoint)
  await ensureTable(client, 'notes', { pollMs: 10 })
  client.destroy()
  const { app } = await buildTestApp(t, { DYNAMODB_ENDPOINT: endpoint, NOTES_TABLE: 'notes' })
  t.teardown(async () => {
    await app.close()
    if (store.listening) await stopDynalite(store)
  })
  const headers = await authHeaders('alice')
  const push = (noteId: string) => app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId } })
  const acknowledged: string[] = []
  for (const noteId of ['before-1', 'before-2']) {
    if ((await push(noteId)).statusCode === 201) acknowledged.push(noteId)
  }

  await stopDynalite(store)
  const failedPush = await push('during')
  const failedPull = await app.inject({ method: 'GET', url: '/notes', headers })
  const notReady = await app.inject({ method: 'GET', url: '/ready' })
  store = await startDynalite(port, dataDir)
  const afterPush = await push('after')
  if (afterPush.statusCode === 201) acknowledged.push('after')
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })

  for (const response of [failedPush, failedPull]) {
    t.equal(response.statusCode, 503)
    t.equal(response.json().code, 'STORE_UNAVAILABLE')
    t.ok(Number(response.headers['retry-after']) > 0, 'Retry-After')
  }
  t.equal(notReady.statusCode, 503, '/ready reports the outage')
  t.equal(afterPush.statusCode, 201, 'writes succeed once the store is back')
  t.same(pulled.json().notes.map((note: { noteId: string }) => note.noteId), acknowledged,
    'every acknowledged write is there, and nothing from the failed one')
  t.equal(pulled.json().hasMore, false)
})
