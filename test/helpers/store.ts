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

/** DynamoDB Local image of the container store; docker-compose.yml pins the same one. */
export const DYNAMODB_LOCAL_IMAGE = 'amazon/dynamodb-local:3.3.1'

let shared: Promise<TestStore> | undefined

/**
 * Return this test file's store, chosen in this order:
 * - the endpoint in DYNAMODB_ENDPOINT (DynamoDB Local, AWS);
 * - with TEST_STORE=container and a container runtime, DynamoDB Local in a
 *   container started by testcontainers;
 * - an in-memory dynalite on loopback.
 * Every test talks to it over HTTP through the real SDK.
 */
export function testStore (): Promise<TestStore> {
  shared ??= openStore().then((store) => {
    tap.comment(`store: ${store.description}`)
    return store
  })
  return shared
}

async function openStore (): Promise<TestStore> {
  const endpoint = process.env.DYNAMODB_ENDPOINT
  if (endpoint !== undefined && endpoint !== '') {
    return { endpoint, description: `endpoint ${endpoint}`, close: async () => {} }
  }
  if (process.env.TEST_STORE === 'container') {
    const container = await startContainerStore()
    if (container !== undefined) return container
  }
  const embedded: EmbeddedStore = await startEmbeddedStore(null)
  // Close the server when the whole test file ends, or its socket keeps the process alive.
  tap.teardown(() => embedded.close())
  const note = process.env.TEST_STORE === 'container' ? ' (TEST_STORE=container, but no container runtime found)' : ''
  return { endpoint: embedded.endpoint, description: `dynalite in memory${note}`, close: () => embedded.close() }
}

/** Start DynamoDB Local with testcontainers, or return undefined without a container runtime. */
async function startContainerStore (): Promise<TestStore | undefined> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers')
  try {
    await getContainerRuntimeClient()
  } catch {
    return undefined
  }
  const container = await new GenericContainer(DYNAMODB_LOCAL_IMAGE)
    .withCommand(['-jar', 'DynamoDBLocal.jar', '-inMemory', '-sharedDb'])
    .withExposedPorts(8000)
    .withWaitStrategy(Wait.forListeningPorts())
    .start()
  tap.teardown(async () => {
    await container.stop()
  })
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(8000)}`
  return { endpoint, description: `DynamoDB Local container ${DYNAMODB_LOCAL_IMAGE}`, close: () => container.stop().then(() => {}) }
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
