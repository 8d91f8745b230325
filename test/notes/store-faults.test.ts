import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb'
import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { HttpRequest, HttpResponse } from '@smithy/core/protocols'
import { NodeHttpHandler, type NodeHttpHandlerOptions } from '@smithy/node-http-handler'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { decodeCursor } from '../../src/notes/cursor.js'
import { NotesRepository, type RepositoryOptions } from '../../src/notes/repository.js'
import { intentAttributes } from '../../src/notes/sync-state.js'
import { SDK_RETRY, createDynamoClients } from '../../src/storage/client.js'
import { isDefiniteRejection, isThrottling, toStoreUnavailable } from '../../src/storage/store-errors.js'
import { PARTITION_KEY, SORT_KEY, SYNC_STATE_SORT_KEY } from '../../src/storage/table.js'
import { authHeaders, buildTestApp } from '../helpers/app.js'
import { testClients, testStore } from '../helpers/store.js'

type HandlerOptions = NonNullable<Parameters<NodeHttpHandler['handle']>[1]>
type HandlerOutput = { response: HttpResponse }

/** One HTTP request of the SDK to the store, as the request handler receives it. */
interface StoreCall {
  /** DynamoDB operation from the X-Amz-Target header, such as UpdateItem. */
  operation: string
  /** Sort key of the item the request addresses, or undefined for table operations. */
  sortKey: string | undefined
  updateExpression: string | undefined
  /** 1 for the first attempt of a call, 2 for the SDK's first retry, and so on. */
  attempt: number
}

interface StoreRoute {
  /** Signal that aborts the SDK call, such as the repository's write deadline. */
  abortSignal: HandlerOptions['abortSignal']
  /** Send the request to the real store. */
  forward (): Promise<HandlerOutput>
  /** Send the request to a closed port on 127.0.0.1, so the socket fails with ECONNREFUSED. */
  refuseConnection (): Promise<HandlerOutput>
  /** Send the request to a server that closes the connection once it arrives, so the SDK gets ECONNRESET. */
  resetConnection (): Promise<HandlerOutput>
  /**
   * Send the request to the real store without the SDK's abort signal. A
   * test calls it after the SDK has given up on the request, to model a
   * store that processes the request late.
   */
  deliverLate (): Promise<HandlerOutput>
}

type Fault = (call: StoreCall, route: StoreRoute) => Promise<HandlerOutput>

/**
 * Request handler of the DynamoDB client that passes requests to a real
 * NodeHttpHandler unless a fault matches. The SDK's retry strategy, signing
 * and error parsing all run as in production, because a fault replaces only
 * the HTTP exchange.
 */
class FaultInjectingHandler {
  readonly calls: StoreCall[] = []
  readonly #inner = new NodeHttpHandler({
    connectionTimeout: SDK_RETRY.connectionTimeoutMs,
    requestTimeout: SDK_RETRY.requestTimeoutMs,
  })

  readonly #faults: Array<{ matches: (call: StoreCall) => boolean, respond: Fault }> = []
  readonly #closedPort: number
  readonly #resetPort: number

  constructor (ports: { closed: number, reset: number }) {
    this.#closedPort = ports.closed
    this.#resetPort = ports.reset
  }

  inject (matches: (call: StoreCall) => boolean, respond: Fault): void {
    this.#faults.push({ matches, respond })
  }

  clearFaults (): void {
    this.#faults.length = 0
  }

  clearCalls (): void {
    this.calls.length = 0
  }

  /** Calls of one kind, in the order the handler received them. */
  callsOf (matches: (call: StoreCall) => boolean): StoreCall[] {
    return this.calls.filter(matches)
  }

  async handle (request: HttpRequest, options: HandlerOptions = {}): Promise<HandlerOutput> {
    const call = describeCall(request)
    this.calls.push(call)
    const route: StoreRoute = {
      abortSignal: options.abortSignal,
      forward: () => this.#inner.handle(request, options),
      refuseConnection: () => this.#inner.handle(this.#redirect(request, this.#closedPort), options),
      resetConnection: () => this.#inner.handle(this.#redirect(request, this.#resetPort), options),
      deliverLate: () => this.#inner.handle(request),
    }
    const fault = this.#faults.find((candidate) => candidate.matches(call))
    return fault === undefined ? route.forward() : fault.respond(call, route)
  }

  #redirect (request: HttpRequest, port: number): HttpRequest {
    return Object.assign(HttpRequest.clone(request), { hostname: '127.0.0.1', port })
  }

  updateHttpClientConfig (key: keyof NodeHttpHandlerOptions, value: NodeHttpHandlerOptions[typeof key]): void {
    this.#inner.updateHttpClientConfig(key, value)
  }

  httpHandlerConfigs (): NodeHttpHandlerOptions {
    return this.#inner.httpHandlerConfigs()
  }

  destroy (): void {
    this.#inner.destroy()
  }
}

function describeCall (request: HttpRequest): StoreCall {
  const target = String(request.headers['x-amz-target'] ?? '')
  const body = JSON.parse(String(request.body)) as {
    Key?: Record<string, { S?: string }>
    UpdateExpression?: string
  }
  const attempt = /attempt=(\d+)/.exec(String(request.headers['amz-sdk-request'] ?? ''))?.[1]
  return {
    operation: target.slice(target.indexOf('.') + 1),
    sortKey: body.Key?.[SORT_KEY]?.S,
    updateExpression: body.UpdateExpression,
    attempt: Number(attempt ?? 1),
  }
}

/** Return a port on 127.0.0.1 that nothing listens on. */
async function findClosedPort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** Start a server on 127.0.0.1 that closes every connection as soon as request data arrives. */
async function startResettingServer (): Promise<number> {
  const server = createServer((socket) => {
    socket.once('data', () => socket.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as AddressInfo).port
}

const ports = { closed: await findClosedPort(), reset: await startResettingServer() }

const isNoteWrite = (call: StoreCall) => call.operation === 'UpdateItem' && call.sortKey !== SYNC_STATE_SORT_KEY
const isIntentRelease = (call: StoreCall) =>
  call.operation === 'UpdateItem' && call.sortKey === SYNC_STATE_SORT_KEY && call.updateExpression?.startsWith('REMOVE') === true
const isSyncStateRead = (call: StoreCall) => call.operation === 'GetItem' && call.sortKey === SYNC_STATE_SORT_KEY
const isQuery = (call: StoreCall) => call.operation === 'Query'
const isDescribeTable = (call: StoreCall) => call.operation === 'DescribeTable'

/** Build the HTTP response DynamoDB sends for an error, with its JSON error body. */
function errorResponse (statusCode: number, errorType: string, message: string): HandlerOutput {
  const body = JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${errorType}`, message })
  return {
    response: new HttpResponse({
      statusCode,
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amzn-requestid': 'INJECTEDFAULT0000000000000000000000000000000000000',
      },
      body: Readable.from([Buffer.from(body)]),
    }),
  }
}

const throttled = () => errorResponse(400, 'ProvisionedThroughputExceededException', 'Injected throttling')
const conditionFailed = () => errorResponse(400, 'ConditionalCheckFailedException', 'The conditional request failed')
const internalServerError = () => errorResponse(500, 'InternalServerError', 'Injected server error')

/** Send the request to the store, discard its response and return `output` instead. */
async function applyThenRespond (route: StoreRoute, output: HandlerOutput): Promise<HandlerOutput> {
  const { response } = await route.forward()
  for await (const chunk of response.body as Readable) void chunk
  return output
}

/** Epoch-millisecond clock of the repository that a test moves forward, so intents time out without a wait. */
class TestClock {
  offsetMs = 0
  readonly now = () => Date.now() + this.offsetMs

  advance (ms: number): void {
    this.offsetMs += ms
  }
}

interface FaultyApp {
  app: FastifyInstance
  handler: FaultInjectingHandler
  clock: TestClock
  /** Client of the same table that bypasses the fault injection. */
  direct: DynamoDBDocumentClient
  tableName: string
}

async function buildFaultyApp (
  t: Test,
  repositoryOptions: RepositoryOptions = {},
  environment: Record<string, string> = {},
): Promise<FaultyApp> {
  const handler = new FaultInjectingHandler(ports)
  const clock = new TestClock()
  const { app, tableName, endpoint } = await buildTestApp(t, environment, {
    clientOverrides: { requestHandler: handler },
    repositoryOptions: { now: clock.now, ...repositoryOptions },
  })
  const { client, documentClient } = testClients(endpoint)
  t.teardown(() => client.destroy())
  return { app, handler, clock, direct: documentClient, tableName }
}

async function push (app: FastifyInstance, userId: string, payload: object) {
  return app.inject({ method: 'POST', url: '/notes', headers: await authHeaders(userId), payload })
}

async function pull (app: FastifyInstance, userId: string, cursor?: string) {
  const query = cursor === undefined ? '' : `?cursor=${encodeURIComponent(cursor)}`
  return app.inject({ method: 'GET', url: `/notes${query}`, headers: await authHeaders(userId) })
}

async function readItem (faulty: FaultyApp, userId: string, sortKey: string) {
  const output = await faulty.direct.send(new GetCommand({
    TableName: faulty.tableName,
    Key: { [PARTITION_KEY]: userId, [SORT_KEY]: sortKey },
    ConsistentRead: true,
  }))
  return output.Item
}

/** Sequence numbers of the intents on the user's sync-state item. */
async function intentSeqs (faulty: FaultyApp, userId: string): Promise<number[]> {
  const state = await readItem(faulty, userId, SYNC_STATE_SORT_KEY) ?? {}
  const prefix = intentAttributes('').seq
  return Object.entries(state)
    .filter(([name]) => name.startsWith(prefix))
    .map(([, seq]) => seq as number)
    .sort((a, b) => a - b)
}

function cursorSeq (userId: string, cursor: string): number {
  const decoded = decodeCursor(userId, cursor)
  return decoded.kind === 'seq' ? decoded.seq : Number.NaN
}

const noteIds = (response: { json (): { notes: Array<{ noteId: string }> } }) =>
  response.json().notes.map((note) => note.noteId)

t.test('SDK retry settings are pinned', async (t) => {
  t.same(SDK_RETRY, {
    maxAttempts: 3,
    retryMode: 'standard',
    connectionTimeoutMs: 2_000,
    requestTimeoutMs: 5_000,
  })

  const { app, endpoint } = await buildTestApp(t)
  const { client } = createDynamoClients({ endpoint, region: 'us-east-1', localCredentials: true })
  t.teardown(() => client.destroy())
  await client.send(new DescribeTableCommand({ TableName: app.store.tableName }))

  // @aws-sdk/client-dynamodb 3.1178 defaults maxAttempts to 4, so these
  // checks fail if createDynamoClients stops passing SDK_RETRY.
  t.equal(await client.config.maxAttempts(), SDK_RETRY.maxAttempts)
  const retryMode = client.config.retryMode
  t.equal(typeof retryMode === 'function' ? await retryMode() : retryMode, SDK_RETRY.retryMode)
  const retryStrategy = await client.config.retryStrategy() as { mode?: string }
  t.equal(retryStrategy.mode, SDK_RETRY.retryMode, 'the SDK built the standard retry strategy')
  const handlerConfig = (client.config.requestHandler as NodeHttpHandler).httpHandlerConfigs()
  t.equal(handlerConfig.connectionTimeout, SDK_RETRY.connectionTimeoutMs)
  t.equal(handlerConfig.requestTimeout, SDK_RETRY.requestTimeoutMs)
})

t.test('throttled note write is 503', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  handler.inject(isNoteWrite, async () => throttled())

  const response = await push(app, 'alice', { noteId: 'n1', title: 'lost' })

  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'STORE_THROTTLED')
  t.equal(response.headers['retry-after'], '1')
  t.match(response.json().message, /throttling/)
  t.same(handler.callsOf(isNoteWrite).map((call) => call.attempt), [1, 2, 3], 'the SDK made every attempt')
  t.equal(handler.callsOf(isNoteWrite).length, SDK_RETRY.maxAttempts)
  t.equal(await readItem(faulty, 'alice', 'n1'), undefined, 'no note is stored')
  t.same(await intentSeqs(faulty, 'alice'), [], 'the intent is released')

  handler.clearFaults()
  const stored = await push(app, 'alice', { noteId: 'n2', title: 'kept' })
  const pulled = await pull(app, 'alice')

  t.equal(stored.statusCode, 201)
  t.same(pulled.json().notes, [stored.json()], 'the pull returns exactly the stored note')
  t.equal(pulled.json().hasMore, false)
  t.equal(cursorSeq('alice', pulled.json().cursor), 2, 'the pull passes the failed write')
})

t.test('throttling cleared by retry succeeds', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  handler.inject((call) => isNoteWrite(call) && call.attempt === 1, async () => throttled())

  const response = await push(app, 'alice', { noteId: 'n1', title: 'kept' })

  t.equal(response.statusCode, 201)
  t.equal(response.json().version, 1)
  t.equal(handler.callsOf(isNoteWrite).length, 2)
  t.same(await intentSeqs(faulty, 'alice'), [])
  t.same(noteIds(await pull(app, 'alice')), ['n1'])
})

t.test('refused note write keeps intent', async (t) => {
  const intentTimeoutMs = 3_000
  const faulty = await buildFaultyApp(t, { writeDeadlineMs: 1_000, intentTimeoutMs })
  const { app, handler, clock } = faulty
  await push(app, 'alice', { noteId: 'first' })
  const firstPull = await pull(app, 'alice')
  const cursor = firstPull.json().cursor as string
  handler.inject((call) => isNoteWrite(call) && call.sortKey === 'lost', (call, route) => route.refuseConnection())

  const refused = await push(app, 'alice', { noteId: 'lost' })

  t.equal(refused.statusCode, 503)
  t.equal(refused.json().code, 'STORE_UNAVAILABLE')
  t.equal(refused.headers['retry-after'], '5')
  t.match(refused.json().message, /did not answer/)
  t.equal(handler.callsOf(isNoteWrite).filter((call) => call.sortKey === 'lost').length, SDK_RETRY.maxAttempts)
  t.same(await intentSeqs(faulty, 'alice'), [2], 'the intent of seq 2 is kept')

  const later = await push(app, 'alice', { noteId: 'later' })
  const pullBelowIntent = await pull(app, 'alice', cursor)
  const fullPullBelowIntent = await pull(app, 'alice')

  t.equal(later.statusCode, 201)
  t.same(pullBelowIntent.json().notes, [], 'the pull does not pass the kept intent')
  t.equal(cursorSeq('alice', pullBelowIntent.json().cursor), 1)
  t.same(noteIds(fullPullBelowIntent), ['first'])
  t.same(await intentSeqs(faulty, 'alice'), [2], 'a writer keeps an intent that has not timed out')

  clock.advance(intentTimeoutMs + 1)
  const passedPull = await pull(app, 'alice', cursor)

  t.same(noteIds(passedPull), ['later'], 'the pull passes the timed-out intent')
  t.equal(cursorSeq('alice', passedPull.json().cursor), 3)
  t.same(await intentSeqs(faulty, 'alice'), [2], 'a pull does not clear intents')

  const next = await push(app, 'alice', { noteId: 'next' })

  t.equal(next.statusCode, 201)
  t.same(await intentSeqs(faulty, 'alice'), [], 'the next writer clears the timed-out intent')
  t.equal(await readItem(faulty, 'alice', 'lost'), undefined, 'the refused write is not stored')
  t.same(noteIds(await pull(app, 'alice')), ['first', 'later', 'next'])
})

t.test('note write past deadline is 503', async (t) => {
  const writeDeadlineMs = 1_000
  const faulty = await buildFaultyApp(t, { writeDeadlineMs, intentTimeoutMs: 3 * writeDeadlineMs })
  const { app, handler, clock } = faulty
  handler.inject(isNoteWrite, async (call, route) => {
    // Hold the request until the repository's deadline aborts it. The real
    // handler then rejects it without sending it.
    const signal = route.abortSignal as AbortSignal
    if (!signal.aborted) await once(signal, 'abort')
    return route.forward()
  })

  const response = await push(app, 'alice', { noteId: 'slow' })

  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'STORE_UNAVAILABLE')
  t.equal(handler.callsOf(isNoteWrite).length, 1, 'the SDK does not retry after the deadline')
  t.equal(await readItem(faulty, 'alice', 'slow'), undefined, 'the aborted write is not stored')
  t.same(await intentSeqs(faulty, 'alice'), [1], 'the intent is kept')

  clock.advance(3 * writeDeadlineMs + 1)
  handler.clearFaults()
  const next = await push(app, 'alice', { noteId: 'next' })

  t.equal(next.statusCode, 201)
  t.same(noteIds(await pull(app, 'alice')), ['next'])
})

t.test('reset then throttled write keeps intent', async (t) => {
  // The first attempt of the note write is sent and its connection is
  // reset, so the store may still apply it. The SDK's retries are then
  // throttled, so the final error is a 400 although the outcome is unknown.
  const intentTimeoutMs = 30_000
  const faulty = await buildFaultyApp(t, { writeDeadlineMs: 10_000, intentTimeoutMs })
  const { app, handler, clock } = faulty
  await push(app, 'alice', { noteId: 'first' })
  const firstPull = await pull(app, 'alice')
  let deliverLate: (() => Promise<HandlerOutput>) | undefined
  handler.inject((call) => isNoteWrite(call) && call.sortKey === 'late', async (call, route) => {
    if (call.attempt > 1) return throttled()
    deliverLate = route.deliverLate
    return route.resetConnection()
  })

  const response = await push(app, 'alice', { noteId: 'late', title: 'applied after the 503' })

  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'STORE_THROTTLED')
  t.equal(handler.callsOf(isNoteWrite).filter((call) => call.sortKey === 'late').length, SDK_RETRY.maxAttempts)
  t.same(await intentSeqs(faulty, 'alice'), [2], 'the intent of the reset attempt is kept')
  const pullBelowIntent = await pull(app, 'alice', firstPull.json().cursor)
  t.equal(cursorSeq('alice', pullBelowIntent.json().cursor), 1, 'the pull does not pass seq 2')

  const { response: lateResponse } = await (deliverLate as () => Promise<HandlerOutput>)()
  for await (const chunk of lateResponse.body as Readable) void chunk
  clock.advance(intentTimeoutMs + 1)
  const nextPull = await pull(app, 'alice', pullBelowIntent.json().cursor)

  t.equal(lateResponse.statusCode, 200, 'the store applies the reset attempt late')
  t.same(noteIds(await pull(app, 'alice')), ['first', 'late'])
  t.same(noteIds(nextPull), ['late'], 'the reader receives the late write')
})

t.test('late blind write attempt is ignored', async (t) => {
  // The first attempt of a blind write is sent and its connection is reset,
  // and the SDK's retry stores the note. Another write follows, and then the
  // store applies the first attempt late.
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  await push(app, 'alice', { noteId: 'n1', title: 'v1' })
  let deliverLate: (() => Promise<HandlerOutput>) | undefined
  handler.inject(isNoteWrite, async (call, route) => {
    if (call.attempt > 1) return route.forward()
    deliverLate = route.deliverLate
    return route.resetConnection()
  })
  const retried = await push(app, 'alice', { noteId: 'n1', title: 'retried edit' })
  handler.clearFaults()
  const newer = await push(app, 'alice', { noteId: 'n1', title: 'newer edit' })
  const readerPull = await pull(app, 'alice')

  t.equal(retried.statusCode, 200)
  t.equal(retried.json().version, 2)
  t.equal(newer.json().version, 3)
  t.same(readerPull.json().notes, [newer.json()])

  const { response: lateResponse } = await (deliverLate as () => Promise<HandlerOutput>)()
  for await (const chunk of lateResponse.body as Readable) void chunk
  const readerNextPull = await pull(app, 'alice', readerPull.json().cursor)
  const server = (await pull(app, 'alice')).json().notes as Array<{ title: string, version: number }>

  t.equal(server[0]?.title, 'newer edit', 'the late attempt does not overwrite the newer note')
  t.equal(server[0]?.version, 3, 'the note stays at version 3')
  t.same([...readerPull.json().notes, ...readerNextPull.json().notes].at(-1), server[0], 'the reader has the server note')
})

t.test('applied write answered 500 succeeds', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  handler.inject((call) => isNoteWrite(call) && call.attempt === 1, (call, route) =>
    applyThenRespond(route, internalServerError()))

  const created = await push(app, 'alice', { noteId: 'n1', title: 'one', version: 0 })

  t.equal(created.statusCode, 201, 'the retry that fails its condition counts as applied')
  t.equal(created.json().version, 1)
  t.equal(created.json().title, 'one')

  handler.clearCalls()
  const updated = await push(app, 'alice', { noteId: 'n1', title: 'two', version: 1 })

  t.equal(updated.statusCode, 200)
  t.equal(updated.json().version, 2, 'the write is applied once')
  t.equal(updated.json().title, 'two')
  t.equal(handler.callsOf(isNoteWrite).length, 2, 'the SDK retried the 500')
  t.equal((await readItem(faulty, 'alice', 'n1'))?.version, 2)
  t.same(await intentSeqs(faulty, 'alice'), [])
  t.same(noteIds(await pull(app, 'alice')), ['n1'])
})

t.test('applied write answered 409 succeeds', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  await push(app, 'alice', { noteId: 'n1', title: 'one' })
  handler.inject(isNoteWrite, (call, route) => applyThenRespond(route, conditionFailed()))

  const blind = await push(app, 'alice', { noteId: 'n1', title: 'two' })
  const conditional = await push(app, 'alice', { noteId: 'n1', title: 'three', version: 2 })

  t.equal(blind.statusCode, 200)
  t.equal(blind.json().version, 2)
  t.equal(conditional.statusCode, 200)
  t.equal(conditional.json().version, 3)
  t.equal(conditional.json().title, 'three')
  t.same(await intentSeqs(faulty, 'alice'), [])
  const pulled = await pull(app, 'alice')
  t.same(pulled.json().notes, [conditional.json()])
})

t.test('injected conditional failure is 409', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  await push(app, 'alice', { noteId: 'n1', title: 'v1' })
  const stored = (await push(app, 'alice', { noteId: 'n1', title: 'v2' })).json()
  const firstPull = await pull(app, 'alice')
  handler.clearCalls()
  handler.inject(isNoteWrite, async () => conditionFailed())

  const conflict = await push(app, 'alice', { noteId: 'n1', title: 'edit', version: 2 })
  const missing = await push(app, 'alice', { noteId: 'n2', title: 'edit', version: 4 })
  const blind = await push(app, 'alice', { noteId: 'n1', title: 'blind edit' })

  t.equal(conflict.statusCode, 409)
  t.equal(conflict.json().code, 'VERSION_CONFLICT')
  t.same(conflict.json().current, stored, 'current is the stored note')
  t.equal(missing.statusCode, 409)
  t.equal(missing.json().current, null)
  t.equal(blind.statusCode, 409, 'a failure without its own seq is a conflict for a blind write too')
  t.same(blind.json().current, stored)
  t.equal(handler.callsOf(isNoteWrite).length, 3, 'the SDK does not retry a conditional failure')
  t.same(await intentSeqs(faulty, 'alice'), [], 'every intent is released')

  handler.clearFaults()
  const next = await push(app, 'alice', { noteId: 'n3' })
  const nextPull = await pull(app, 'alice', firstPull.json().cursor)

  t.same(nextPull.json().notes, [next.json()], 'the pull passes the rejected writes')
  t.equal(cursorSeq('alice', nextPull.json().cursor), 6)
})

t.test('older version from the store is 409', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app } = faulty
  await push(app, 'alice', { noteId: 'n1', title: 'v1' })
  const stored = (await push(app, 'alice', { noteId: 'n1', title: 'v2' })).json()

  const conflict = await push(app, 'alice', { noteId: 'n1', title: 'stale', version: 1 })

  t.equal(conflict.statusCode, 409)
  t.same(conflict.json().current, stored)
  t.same(await intentSeqs(faulty, 'alice'), [])
  t.same((await pull(app, 'alice')).json().notes, [stored])
})

t.test('refused intent release keeps the note', async (t) => {
  const intentTimeoutMs = 3_000
  const faulty = await buildFaultyApp(t, { writeDeadlineMs: 1_000, intentTimeoutMs })
  const { app, handler, clock } = faulty
  handler.inject(isIntentRelease, (call, route) => route.refuseConnection())

  const response = await push(app, 'alice', { noteId: 'n1' })

  t.equal(response.statusCode, 201, 'the stored note is acknowledged')
  t.equal(handler.callsOf(isIntentRelease).length, SDK_RETRY.maxAttempts)
  t.same(await intentSeqs(faulty, 'alice'), [1], 'the intent stays')
  t.same((await pull(app, 'alice')).json().notes, [], 'pulls stop below the intent')

  clock.advance(intentTimeoutMs + 1)

  t.same((await pull(app, 'alice')).json().notes, [response.json()], 'pulls pass the timed-out intent')
})

t.test('refused sync-state read is 503', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  await push(app, 'alice', { noteId: 'n1' })
  handler.inject(isSyncStateRead, (call, route) => route.refuseConnection())

  const response = await pull(app, 'alice')

  t.equal(response.statusCode, 503)
  t.equal(response.json().code, 'STORE_UNAVAILABLE')
  t.equal(response.headers['retry-after'], '5')
  t.equal(handler.callsOf(isSyncStateRead).length, SDK_RETRY.maxAttempts)
  t.notOk(handler.calls.some(isQuery), 'the pull stops before the query')
})

t.test('ready follows DescribeTable', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  handler.inject(isDescribeTable, (call, route) => route.refuseConnection())

  const down = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(down.statusCode, 503)
  t.equal(down.json().code, 'STORE_UNAVAILABLE')
  t.equal(down.headers['retry-after'], '5')

  handler.clearFaults()
  const up = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(up.statusCode, 200)
  t.same(up.json(), { status: 'ready' })
})

t.test('missing table is 503', async (t) => {
  const faulty = await buildFaultyApp(t, {}, { NOTES_TABLE: 'notes-test-missing-table' })
  const { app } = faulty

  const pushed = await push(app, 'alice', { noteId: 'n1' })
  const pulled = await pull(app, 'alice')
  const ready = await app.inject({ method: 'GET', url: '/ready' })

  t.equal(pushed.statusCode, 503)
  t.equal(pushed.json().code, 'STORE_UNAVAILABLE')
  t.match(pushed.json().message, /table is missing/)
  t.equal(pulled.statusCode, 503)
  t.match(pulled.json().message, /table is missing/)
  t.equal(ready.statusCode, 503)
})

t.test('replaced table rejects old cursor', async (t) => {
  const original = await buildFaultyApp(t)
  for (const noteId of ['n1', 'n2', 'n3']) await push(original.app, 'alice', { noteId })
  const cursor = (await pull(original.app, 'alice')).json().cursor as string
  const replaced = await buildFaultyApp(t)

  const response = await pull(replaced.app, 'alice', cursor)

  t.equal(response.statusCode, 400)
  t.equal(response.json().code, 'INVALID_CURSOR')
  t.match(response.json().message, /change 3, but this user's change feed ends at 0/)
  t.match(response.json().message, /pull from the beginning/)
})

t.test('note read maps refused connection', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  const repository = new NotesRepository(app.store.documentClient, faulty.tableName)
  const pushed = await push(app, 'alice', { noteId: 'n1' })

  t.same(await repository.get('alice', 'n1'), pushed.json())
  t.equal(await repository.get('alice', 'missing'), null)

  handler.inject((call) => call.operation === 'GetItem', (call, route) => route.refuseConnection())

  await t.rejects(repository.get('alice', 'n1'), { name: 'StoreUnavailableError', code: 'STORE_UNAVAILABLE' })
})

t.test('repository works without events', async (t) => {
  // buildApp always passes the metrics events, so this repository is built
  // directly to run the default, which ignores them.
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  const clock = new TestClock()
  const intentTimeoutMs = 3_000
  const repository = new NotesRepository(app.store.documentClient, faulty.tableName, {
    now: clock.now,
    writeDeadlineMs: 1_000,
    intentTimeoutMs,
  })
  const log = { info: () => {}, warn: () => {} }
  const note = (noteId: string, version?: number) =>
    ({ noteId, title: '', content: '', isDeleted: false, ...(version === undefined ? {} : { version }) })

  const created = await repository.put('alice', note('n1'), log)
  t.equal(created.created, true)
  await t.rejects(repository.put('alice', note('n1', 5), log), { code: 'VERSION_CONFLICT' })

  handler.inject((call) => isNoteWrite(call) && call.sortKey === 'lost', (call, route) => route.refuseConnection())
  await t.rejects(repository.put('alice', note('lost'), log), { code: 'STORE_UNAVAILABLE' })
  t.same(await intentSeqs(faulty, 'alice'), [3], 'the intent of the refused write is kept')

  clock.advance(intentTimeoutMs + 1)
  const next = await repository.put('alice', note('n2'), log)

  t.equal(next.note.noteId, 'n2')
  t.same(await intentSeqs(faulty, 'alice'), [], 'the next writer clears the timed-out intent')
})

t.test('unexpected query error is 500', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  await push(app, 'alice', { noteId: 'n1' })
  const detail = 'One or more parameter values were invalid: secret index detail'
  handler.inject(isQuery, async () => errorResponse(400, 'ValidationException', detail))

  const response = await pull(app, 'alice')

  t.equal(response.statusCode, 500)
  const body = response.json()
  t.equal(body.code, 'INTERNAL_ERROR')
  const requestId = response.headers['x-request-id'] as string
  t.ok(requestId.length > 0, 'the response has a request id')
  t.ok(body.message.includes(requestId), 'the message contains the request id')
  t.notMatch(body.message, /ValidationException|secret index detail|parameter/)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'])
  t.equal(handler.callsOf(isQuery).length, 1, 'the SDK does not retry a validation error')
})

t.test('unexpected reserve and read errors are 500', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  await push(app, 'alice', { noteId: 'n1' })
  handler.clearCalls()
  const isReserve = (call: StoreCall) =>
    call.operation === 'UpdateItem' && call.sortKey === SYNC_STATE_SORT_KEY && call.updateExpression?.startsWith('SET') === true
  const validationError = async () => errorResponse(400, 'ValidationException', 'Injected validation error')
  handler.inject(isReserve, validationError)
  handler.inject(isSyncStateRead, validationError)

  const pushed = await push(app, 'alice', { noteId: 'n2' })
  const pulled = await pull(app, 'alice')

  t.equal(pushed.statusCode, 500)
  t.equal(pushed.json().code, 'INTERNAL_ERROR')
  t.equal(pulled.statusCode, 500)
  t.equal(pulled.json().code, 'INTERNAL_ERROR')
  t.notOk(handler.calls.some(isNoteWrite), 'no note write follows a failed reserve')
  t.equal(await readItem(faulty, 'alice', 'n2'), undefined)
  t.same(await intentSeqs(faulty, 'alice'), [], 'a rejected reserve leaves no intent')
})

t.test('unexpected note write error releases intent', async (t) => {
  const faulty = await buildFaultyApp(t)
  const { app, handler } = faulty
  handler.inject(isNoteWrite, async () => errorResponse(400, 'ValidationException', 'Injected validation error'))

  const response = await push(app, 'alice', { noteId: 'n1' })

  t.equal(response.statusCode, 500)
  t.equal(response.json().code, 'INTERNAL_ERROR')
  t.equal(await readItem(faulty, 'alice', 'n1'), undefined)
  t.same(await intentSeqs(faulty, 'alice'), [], 'a rejected write releases its intent')
})

t.test('store errors are classified', async (t) => {
  const cases: Array<[string, unknown, string | undefined, boolean]> = [
    ['throttling', { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }, 'STORE_THROTTLED', true],
    ['missing table', { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } }, 'STORE_UNAVAILABLE', true],
    ['5xx response', { name: 'InternalServerError', $metadata: { httpStatusCode: 500 } }, 'STORE_UNAVAILABLE', false],
    ['socket error code', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'STORE_UNAVAILABLE', false],
    ['timeout name', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'STORE_UNAVAILABLE', false],
    ['validation', { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }, undefined, true],
    ['plain error', new Error('bug'), undefined, false],
    ['object without fields', {}, undefined, false],
    ['null', null, undefined, false],
    ['undefined', undefined, undefined, false],
  ]

  for (const [label, err, code, definite] of cases) {
    t.equal(toStoreUnavailable(err, 'test operation')?.code, code, `${label}: code`)
    t.equal(isDefiniteRejection(err), definite, `${label}: definite rejection`)
  }
  t.equal(isThrottling({ name: 'LimitExceededException' }), true)
  t.equal(isThrottling(undefined), false)
  const error = toStoreUnavailable({ name: 'ThrottlingException' }, 'read changes')
  t.match(error?.message, /\(read changes\)/, 'the message names the operation')
  t.equal(error?.retryAfterSeconds, 1)
})

t.test('repository rejects short intent timeout', async (t) => {
  const { documentClient, client } = testClients((await testStore()).endpoint)
  t.teardown(() => client.destroy())

  t.throws(
    () => new NotesRepository(documentClient, 'notes', { writeDeadlineMs: 100, intentTimeoutMs: 299 }),
    RangeError,
  )
  t.doesNotThrow(() => new NotesRepository(documentClient, 'notes', { writeDeadlineMs: 100, intentTimeoutMs: 300 }))
})
