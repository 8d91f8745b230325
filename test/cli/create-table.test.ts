import { randomUUID } from 'node:crypto'
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb'
import t from 'tap'
import { createTableCommand, type CommandOutput } from '../../src/cli/commands.js'
import { run } from '../helpers/process.js'
import { testClients, testStore } from '../helpers/store.js'

function captureOutput () {
  const captured = { stdout: '', stderr: '' }
  const output: CommandOutput = {
    out: (text) => { captured.stdout += text },
    err: (text) => { captured.stderr += text },
  }
  return { captured, output }
}

t.test('create-table creates once, then reports it exists', async (t) => {
  const { endpoint } = await testStore()
  const tableName = `notes-cli-${randomUUID()}`
  // No auth settings: creating a table does not need them.
  const env = { STORE: 'dynamodb', DYNAMODB_ENDPOINT: endpoint, NOTES_TABLE: tableName }
  t.teardown(async () => {
    const { client } = testClients(endpoint)
    await client.send(new DeleteTableCommand({ TableName: tableName }))
    client.destroy()
  })
  const first = captureOutput()

  const firstCode = await createTableCommand(env, first.output)
  const second = await run('npm', ['run', '--silent', 'create-table'], env)

  t.equal(firstCode, 0, first.captured.stderr)
  t.equal(first.captured.stdout, `Table "${tableName}" created and is ACTIVE.\n`)
  t.equal(second.code, 0, second.stderr)
  t.match(second.stdout, 'already exists')
})

t.test('create-table explains the embedded store', async (t) => {
  const { captured, output } = captureOutput()

  const code = await createTableCommand({ STORE: 'embedded' }, output)

  t.equal(code, 1)
  t.match(captured.stderr, /STORE=embedded creates its table when the server starts/)
})

t.test('create-table reports an unreachable endpoint', async (t) => {
  const { captured, output } = captureOutput()
  const env = { DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', LOCAL_AUTH_SECRET: 'x'.repeat(32) }

  const code = await createTableCommand(env, output)

  t.equal(code, 1)
  t.match(captured.stderr, /Creating table "notes" at http:\/\/127\.0\.0\.1:9 failed/)
})

t.test('create-table reports invalid settings', async (t) => {
  const result = await run('node', ['dist/src/cli/create-table.js'], { PORT: 'abc' })

  t.equal(result.code, 1)
  t.match(result.stderr, /PORT="abc"/)
})
