import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { CreateTableCommand, DescribeTableCommand, ResourceNotFoundException } from '@aws-sdk/client-dynamodb'
import { PutCommand, GetCommand } from '@aws-sdk/lib-dynamodb'
import dynalite from 'dynalite'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { IN_MEMORY, loadConfig } from '../../src/config.js'
import { createTableInput, ensureTable } from '../../src/storage/create-table.js'
import { startEmbeddedStore } from '../../src/storage/embedded.js'
import { NOTES_TABLE, SEQ_INDEX, UPDATED_INDEX } from '../../src/storage/table.js'
import { testClients, testStore } from '../helpers/store.js'

t.test('table input follows the definition', async (t) => {
  const input = createTableInput('notes')

  t.same(input.KeySchema, [
    { AttributeName: 'userId', KeyType: 'HASH' },
    { AttributeName: 'noteId', KeyType: 'RANGE' },
  ])
  t.same(input.LocalSecondaryIndexes?.map((index) => [index.IndexName, index.KeySchema?.[1]?.AttributeName]),
    [[SEQ_INDEX, 'seq'], [UPDATED_INDEX, 'updated']])
  t.equal(input.BillingMode, 'PAY_PER_REQUEST')
  t.equal(input.AttributeDefinitions?.length, 2 + NOTES_TABLE.localIndexes.length)
})

t.test('ensureTable is idempotent under concurrency', async (t) => {
  const { endpoint } = await testStore()
  const { client } = testClients(endpoint)
  t.teardown(() => client.destroy())
  const tableName = `notes-create-${Date.now()}`

  const results = await Promise.all([1, 2, 3].map(() => ensureTable(client, tableName, { pollMs: 10 })))
  const again = await ensureTable(client, tableName, { pollMs: 10 })

  t.equal(results.filter(Boolean).length, 1, 'exactly one call created it')
  t.equal(again, false)
  const table = await client.send(new DescribeTableCommand({ TableName: tableName }))
  t.equal(table.Table?.TableStatus, 'ACTIVE')
  t.equal(table.Table?.LocalSecondaryIndexes?.length, 2)
})

t.test('ensureTable times out on a table that stays CREATING', async (t) => {
  const server = dynalite({ createTableMs: 5_000 })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { client } = testClients(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  t.teardown(() => client.destroy())

  await t.rejects(ensureTable(client, 'slow-table', { timeoutMs: 100, pollMs: 20 }), /still CREATING after 100 ms/)
})

t.test('embedded store keeps data across restarts', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-store-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const key = { userId: 'u', noteId: 'n' }

  const first = await startEmbeddedStore(dataDir)
  const firstClients = testClients(first.endpoint)
  await ensureTable(firstClients.client, 'notes', { pollMs: 10 })
  await firstClients.documentClient.send(new PutCommand({ TableName: 'notes', Item: { ...key, title: 'kept' } }))
  firstClients.client.destroy()
  await first.close()

  const second = await startEmbeddedStore(dataDir)
  const secondClients = testClients(second.endpoint)
  const read = await secondClients.documentClient.send(new GetCommand({ TableName: 'notes', Key: key }))
  secondClients.client.destroy()
  await second.close()

  t.equal(read.Item?.title, 'kept')
})

t.test('embedded store rejects a data folder in use', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-store-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const first = await startEmbeddedStore(dataDir)
  t.teardown(() => first.close())
  // dynalite opens LevelDB on its first request.
  const clients = testClients(first.endpoint)
  await ensureTable(clients.client, 'notes', { pollMs: 10 })
  clients.client.destroy()

  await t.rejects(startEmbeddedStore(dataDir), /DATA_DIR ".*" is in use by another notes-sync server/)
})

t.test('embedded store reports a damaged data folder', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-store-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  await writeFile(join(dataDir, 'CURRENT'), 'not a manifest name\n')

  await t.rejects(startEmbeddedStore(dataDir))
})

t.test('app start fails when the embedded table cannot be created', async (t) => {
  const config = loadConfig({ DATA_DIR: IN_MEMORY, LOCAL_AUTH_SECRET: 'x'.repeat(32), LOG_LEVEL: 'silent' })
  const failing = {
    handle: async () => { throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) },
  }

  await t.rejects(buildApp(config, { clientOverrides: { requestHandler: failing, maxAttempts: 1 } }), /ECONNREFUSED/)
})

/** Build a client stub for the polling logic of ensureTable; the other tests use a real endpoint. */
function stubClient (respond: (command: object) => unknown) {
  return { send: async (command: object) => respond(command) } as unknown as Parameters<typeof ensureTable>[0]
}

t.test('ensureTable raises other create errors', async (t) => {
  const client = stubClient((command) => {
    if (command instanceof CreateTableCommand) throw Object.assign(new Error('limit exceeded'), { name: 'LimitExceededException' })
    throw new ResourceNotFoundException({ message: 'no table', $metadata: {} })
  })

  await t.rejects(ensureTable(client, 'notes'), /limit exceeded/)
})

t.test('ensureTable reports a table that disappears', async (t) => {
  let created = false
  const client = stubClient((command) => {
    if (command instanceof CreateTableCommand) {
      created = true
      return {}
    }
    if (!created) throw new ResourceNotFoundException({ message: 'no table', $metadata: {} })
    return created ? { Table: undefined } : {}
  })

  await t.rejects(ensureTable(client, 'notes', { timeoutMs: 30, pollMs: 10 }), /still missing after 30 ms/)
})

t.test('embedded store reports a second close', async (t) => {
  const store = await startEmbeddedStore(null)
  await store.close()

  await t.rejects(store.close())
})

t.test('app starts on an embedded store', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-store-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const environments = [
    { DATA_DIR: dataDir, LOG_LEVEL: 'silent' },
    { DATA_DIR: IN_MEMORY, LOCAL_AUTH_SECRET: 'x'.repeat(32), LOG_LEVEL: 'silent' },
  ]

  for (const environment of environments) {
    const app = await buildApp(loadConfig(environment))
    const ready = await app.inject({ method: 'GET', url: '/ready' })
    await app.close()
    t.equal(ready.statusCode, 200, environment.DATA_DIR)
  }
})
