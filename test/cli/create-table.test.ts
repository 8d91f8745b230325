import { randomUUID } from 'node:crypto'
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb'
import t from 'tap'
import { run } from '../helpers/process.js'
import { testClients, testStore } from '../helpers/store.js'

t.test('create-table creates once, then reports it exists', async (t) => {
  const { endpoint } = await testStore()
  const tableName = `notes-cli-${randomUUID()}`
  const env = { STORE: 'dynamodb', DYNAMODB_ENDPOINT: endpoint, NOTES_TABLE: tableName, LOCAL_AUTH_SECRET: 'x'.repeat(32) }
  t.teardown(async () => {
    const { client } = testClients(endpoint)
    await client.send(new DeleteTableCommand({ TableName: tableName }))
    client.destroy()
  })

  const first = await run('npm', ['run', '--silent', 'create-table'], env)
  const second = await run('npm', ['run', '--silent', 'create-table'], env)

  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, `Table "${tableName}" created and is ACTIVE.`)
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, 'already exists')
})

t.test('create-table explains the embedded store', async (t) => {
  const result = await run('node', ['dist/src/cli/create-table.js'], { STORE: 'embedded' })

  t.equal(result.code, 1)
  t.match(result.stderr, /STORE=embedded creates its table when the server starts/)
})

t.test('create-table reports an unreachable endpoint', async (t) => {
  const env = { DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', LOCAL_AUTH_SECRET: 'x'.repeat(32) }

  const result = await run('node', ['dist/src/cli/create-table.js'], env)

  t.equal(result.code, 1)
  t.match(result.stderr, /Creating table "notes" at http:\/\/127\.0\.0\.1:9 failed/)
})

t.test('create-table reports invalid settings', async (t) => {
  const result = await run('node', ['dist/src/cli/create-table.js'], { PORT: 'abc' })

  t.equal(result.code, 1)
  t.match(result.stderr, /PORT="abc"/)
})
