import { connect } from 'node:net'
import t from 'tap'
import { signLocalToken } from '../src/auth/local-tokens.js'
import { authHeaders, buildTestApp, TEST_SECRET } from './helpers/app.js'
import { freePort, startProcess } from './helpers/process.js'
import { startSlowProxy } from './helpers/slow-proxy.js'
import { createTestTable, testStore } from './helpers/store.js'

/** Resolve with the error code of a TCP connection attempt, or 'connected'. */
function tryConnect (port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve('connected')
    })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'))
  })
}

t.test('SIGTERM drains in-flight requests', async (t) => {
  const store = await testStore()
  const tableName = await createTestTable(t, store.endpoint)
  const proxy = await startSlowProxy(store.endpoint, 400)
  t.teardown(() => proxy.close())
  const port = await freePort()
  const server = await startProcess('node', ['dist/src/server.js'], {
    PORT: String(port),
    STORE: 'dynamodb',
    DYNAMODB_ENDPOINT: proxy.endpoint,
    NOTES_TABLE: tableName,
    LOCAL_AUTH_SECRET: TEST_SECRET,
  }, 'notes-sync started')
  t.teardown(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL')
  })
  const token = await signLocalToken(TEST_SECRET, 'alice', 600)
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

  const inFlight = [1, 2, 3, 4].map((index) => fetch(`http://127.0.0.1:${port}/notes`, {
    method: 'POST', headers, body: JSON.stringify({ noteId: `n${index}` }),
  }))
  // Wait until every request has reached the store, so that all are in flight.
  while (proxy.requests() < 4) await new Promise((resolve) => setTimeout(resolve, 20))
  server.child.kill('SIGTERM')
  let connection = await tryConnect(port)
  while (connection === 'connected') {
    await new Promise((resolve) => setTimeout(resolve, 20))
    connection = await tryConnect(port)
  }
  const responses = await Promise.all(inFlight)

  t.equal(connection, 'ECONNREFUSED', 'new connections are refused')
  t.same(responses.map((response) => response.status), [201, 201, 201, 201], 'every in-flight write completes')
  t.equal(await server.exited, 0)
  t.match(server.output(), /"msg":"stopped"/)
})

t.test('GET /ready is 503 once closing starts', async (t) => {
  const { app } = await buildTestApp(t)
  let reachedStore: () => void = () => {}
  const storeCalled = new Promise<void>((resolve) => { reachedStore = resolve })
  app.store.client.middlewareStack.add((next) => async (args) => {
    reachedStore()
    await new Promise((resolve) => setTimeout(resolve, 100))
    return next(args)
  }, { step: 'initialize', name: 'slowStore' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const body = JSON.stringify({ noteId: 'a' })
  const token = (await authHeaders('alice')).authorization as string

  // A slow push keeps the server open while it closes. A readiness probe
  // whose headers were only partly sent before closing began is routed
  // during the drain, as a load balancer's probe on an open connection is.
  const push = fetch(`http://127.0.0.1:${port}/notes`, {
    method: 'POST', headers: { authorization: token, 'content-type': 'application/json' }, body,
  })
  await storeCalled
  const probe = connect(port, '127.0.0.1')
  await new Promise((resolve) => probe.once('connect', resolve))
  probe.write('GET /ready HTTP/1.1\r\nHost: x\r\n')
  let received = ''
  probe.on('data', (chunk) => { received += chunk })
  const probeClosed = new Promise((resolve) => probe.on('close', resolve))

  const closed = app.close()
  await new Promise((resolve) => setTimeout(resolve, 20))
  probe.write('\r\n')
  await probeClosed
  await closed

  t.match(received, /^HTTP\/1\.1 503 /, 'the probe reports not ready')
  t.match(received, /"code":"SHUTTING_DOWN"/)
  t.equal((await push).status, 201, 'the push in flight completes')
})
