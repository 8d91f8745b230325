import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freePort, run, startProcess } from './helpers/process.js'

interface PullBody {
  notes: Array<{ title: string }>
  cursor: string
  hasMore: boolean
}

t.test('server started as the README says', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-server-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const port = await freePort()
  const env = { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'info' }
  const base = `http://127.0.0.1:${port}`

  const server = await startProcess('npm', ['start'], env, 'notes-sync started')
  t.teardown(() => {
    if (server.child.exitCode === null) process.kill(-(server.child.pid as number), 'SIGKILL')
  })
  t.match(server.output(), /embedded dynalite store started/)

  const minted = await run('npm', ['run', '--silent', 'token', '--', 'alice'], env)
  t.equal(minted.code, 0, minted.stderr)
  const token = minted.stdout.trim()
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

  const pushed = await fetch(`${base}/notes`, {
    method: 'POST', headers, body: JSON.stringify({ noteId: 'n1', title: 'hello' }),
  })
  t.equal(pushed.status, 201)
  t.equal(pushed.headers.get('keep-alive'), 'timeout=65')

  const pulled = await (await fetch(`${base}/notes`, { headers })).json() as PullBody
  t.same(pulled.notes.map((note) => note.title), ['hello'])

  const again = await (await fetch(`${base}/notes?cursor=${pulled.cursor}`, { headers })).json() as PullBody
  t.same(again.notes, [])

  const ready = await fetch(`${base}/ready`)
  t.equal(ready.status, 200)
  t.notMatch(server.output(), token, 'the token is never logged')

  // SIGTERM to the whole group, as a terminal's Ctrl-C or a container stop
  // does. npm itself dies of the signal; the server logs its drain and stop.
  process.kill(-(server.child.pid as number), 'SIGTERM')
  await server.exited
  t.match(server.output(), /"signal":"SIGTERM".*stopping/)
  t.match(server.output(), /"msg":"stopped"/)
})

t.test('server exits on invalid settings', async (t) => {
  const result = await run('node', ['dist/src/server.js'], { PORT: 'abc', LOG_LEVEL: 'loud' })

  t.equal(result.code, 1)
  t.match(result.stderr, /PORT="abc" is invalid; expected an integer from 0 to 65535/)
  t.match(result.stderr, /LOG_LEVEL="loud" is invalid/)
})

t.test('server exits when its data folder is in use', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'notes-sync-server-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const env = { PORT: String(await freePort()), DATA_DIR: dataDir }
  const first = await startProcess('node', ['dist/src/server.js'], env, 'notes-sync started')
  t.teardown(() => {
    if (first.child.exitCode === null) first.child.kill('SIGKILL')
  })

  const second = await run('node', ['dist/src/server.js'], { ...env, PORT: String(await freePort()) })

  t.not(second.code, 0)
  t.match(second.stderr + second.stdout, /is in use by another notes-sync server/)
  first.child.kill('SIGTERM')
  t.equal(await first.exited, 0)
})
