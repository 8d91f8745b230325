import { createServer, type Socket } from 'node:net'
import t from 'tap'
import { StoreUnavailableError } from '../../src/errors.js'
import { NotesRepository } from '../../src/notes/repository.js'
import { SDK_RETRY, createDynamoClients } from '../../src/storage/client.js'

t.test('store that never responds times out', async (t) => {
  // A server that accepts connections and reads requests, but never responds.
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.resume()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy()
    server.close(() => resolve())
  }))
  const { port } = server.address() as { port: number }
  const requestTimeoutMs = 200
  const { client, documentClient } = createDynamoClients({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    localCredentials: true,
    requestTimeoutMs,
  })
  t.teardown(() => client.destroy())
  const repository = new NotesRepository(documentClient, 'notes')
  // Every attempt times out; the bound adds generous room for the SDK's backoff between attempts.
  const boundMs = SDK_RETRY.maxAttempts * requestTimeoutMs + 5_000

  const outcome = await Promise.race([
    repository.changesSince('alice', 0, 10).then(() => 'answered', (err: unknown) => err),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), boundMs).unref()),
  ])

  t.type(outcome, StoreUnavailableError)
  t.equal((outcome as StoreUnavailableError).code, 'STORE_UNAVAILABLE')
  t.equal(sockets.size, SDK_RETRY.maxAttempts, 'one connection per attempt')
})

t.test('AWS client uses the pinned retries', async (t) => {
  const { client } = createDynamoClients({})
  t.teardown(() => client.destroy())

  t.equal(client.config.endpoint, undefined, 'no endpoint: the SDK resolves AWS')
  t.equal(await client.config.maxAttempts(), SDK_RETRY.maxAttempts)
  t.equal(client.config.retryMode, SDK_RETRY.retryMode)
})
