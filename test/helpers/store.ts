import { randomUUID } from 'node:crypto'
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb'
import tap from 'tap'
import { startEmbeddedStore, type EmbeddedStore } from '../../src/storage/embedded.js'
import { createDynamoClients, isLocalEndpoint, type DynamoClients } from '../../src/storage/client.js'
import { ensureTable } from '../../src/storage/create-table.js'

export interface TestStore {
  /** DynamoDB-compatible endpoint every client of this test file talks to. */
  endpoint: string
  /** Name of the store, printed so a test run shows what it ran against. */
  description: string
  close (): Promise<void>
}

let shared: Promise<TestStore> | undefined

/**
 * Return this test file's store: the endpoint in DYNAMODB_ENDPOINT when set
 * (DynamoDB Local, AWS), else an in-memory dynalite on loopback. Every test
 * talks to it over HTTP through the real SDK.
 */
export function testStore (): Promise<TestStore> {
  shared ??= openStore()
  return shared
}

async function openStore (): Promise<TestStore> {
  const endpoint = process.env.DYNAMODB_ENDPOINT
  if (endpoint !== undefined && endpoint !== '') {
    return { endpoint, description: `endpoint ${endpoint}`, close: async () => {} }
  }
  const embedded: EmbeddedStore = await startEmbeddedStore(null)
  // Close the server when the whole test file ends, or its socket keeps the process alive.
  tap.teardown(() => embedded.close())
  return { endpoint: embedded.endpoint, description: 'dynalite in memory', close: () => embedded.close() }
}

export function testClients (endpoint: string): DynamoClients {
  return createDynamoClients({ endpoint, region: 'us-east-1', localCredentials: isLocalEndpoint(endpoint) })
}

/** Create a table with a unique name for one test and delete it afterwards. */
export async function createTestTable (
  t: { teardown (fn: () => Promise<void>): void },
  endpoint: string,
): Promise<string> {
  const tableName = `notes-test-${randomUUID()}`
  const { client } = testClients(endpoint)
  await ensureTable(client, tableName, { pollMs: 20 })
  t.teardown(async () => {
    await client.send(new DeleteTableCommand({ TableName: tableName }))
    client.destroy()
  })
  return tableName
}
