/**
 * Load and soak run against the real server process on loopback:
 *   npm run soak            (SOAK_SECONDS=180 by default)
 *
 * The store is dynalite in a process of its own, so the memory figures are
 * the API server's alone.
 *
 * Simulated users push and pull from several devices each, some editing the
 * same notes from different devices, for SOAK_SECONDS. Every device then
 * pulls to the end, and the run checks that no request failed, every device
 * has exactly the server's final notes, no device received the same
 * (noteId, version) twice, and resident memory stayed flat. It prints its
 * figures and exits 1 when a check fails.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { signLocalToken } from '../../src/auth/local-tokens.js'
import { freePort, run, startProcess } from '../helpers/process.js'

const SECRET = 'soak-secret-for-local-tokens-0123456789abcdef'
const SECONDS = Number(process.env.SOAK_SECONDS ?? 180)
const USERS = Number(process.env.SOAK_USERS ?? 20)
const DEVICES_PER_USER = 3
const NOTES_PER_USER = 15
/** V8 heap limit of the server process, in MiB. */
const HEAP_LIMIT_MB = 256
/** Pause of each device between two requests, in milliseconds. */
const THINK_MS = 25
/**
 * Resident memory may grow by at most this factor from the middle third of
 * the run to the last third. The first third is warm-up: the V8 heap and the
 * in-memory store grow to their working size there.
 */
const MAX_RSS_GROWTH = 1.25

interface Note {
  noteId: string
  content: string
  version: number
  isDeleted: boolean
}

interface Device {
  userId: string
  token: string
  cursor: string | undefined
  notes: Map<string, Note>
  received: Set<string>
  duplicates: number
}

const stats = {
  requests: 0,
  pushes: 0,
  pulls: 0,
  conflicts: 0,
  errors: [] as string[],
  latenciesMs: [] as number[],
}

function randomInt (max: number): number {
  return Math.floor(Math.random() * max)
}

async function call (base: string, device: Device, method: string, path: string, body?: object) {
  const started = performance.now()
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${device.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = await response.json() as Record<string, unknown>
  stats.requests++
  stats.latenciesMs.push(performance.now() - started)
  return { status: response.status, json }
}

/** Pull until hasMore is false, recording every note version received. */
async function pullToEnd (base: string, device: Device): Promise<void> {
  for (;;) {
    const query = device.cursor === undefined ? '' : `?cursor=${device.cursor}`
    const { status, json } = await call(base, device, 'GET', `/notes${query}`)
    stats.pulls++
    if (status !== 200) {
      stats.errors.push(`pull ${status} ${JSON.stringify(json)}`)
      return
    }
    for (const note of json.notes as Note[]) {
      const key = `${note.noteId}@${note.version}`
      if (device.received.has(key)) device.duplicates++
      device.received.add(key)
      device.notes.set(note.noteId, note)
    }
    device.cursor = json.cursor as string
    if (json.hasMore !== true) return
  }
}

/** Push an edit of one of the user's notes, conditional on the version this device has. */
async function pushEdit (base: string, device: Device): Promise<void> {
  const noteId = `note-${randomInt(NOTES_PER_USER)}`
  const known = device.notes.get(noteId)
  const conditional = Math.random() < 0.7
  const body = {
    noteId,
    title: `title of ${noteId}`,
    content: `${device.userId} edit ${stats.pushes} ${'x'.repeat(randomInt(2000))}`,
    isDeleted: Math.random() < 0.05,
    ...(conditional ? { version: known?.version ?? 0 } : {}),
  }
  const { status, json } = await call(base, device, 'POST', '/notes', body)
  stats.pushes++
  if (status === 200 || status === 201) return
  if (status === 409) {
    stats.conflicts++
    return
  }
  stats.errors.push(`push ${status} ${JSON.stringify(json).slice(0, 200)}`)
}

async function runDevice (base: string, device: Device, until: number): Promise<void> {
  while (Date.now() < until) {
    if (Math.random() < 0.5) await pushEdit(base, device)
    else await pullToEnd(base, device)
    await sleep(THINK_MS)
  }
}

async function residentMemoryBytes (base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text()
  const line = text.split('\n').find((row) => row.startsWith('process_resident_memory_bytes '))
  return Number(line?.split(' ')[1])
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

function percentile (values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0
}

async function main (): Promise<number> {
  const storePort = await freePort()
  const store = await startProcess('node', [
    'node_modules/dynalite/cli.js', '--host', '127.0.0.1', '--port', String(storePort), '--createTableMs', '0',
  ], {}, 'Dynalite listening', 60_000)
  const storeEndpoint = `http://127.0.0.1:${storePort}`
  const created = await run('node', ['dist/src/cli/create-table.js'], { DYNAMODB_ENDPOINT: storeEndpoint })
  if (created.code !== 0) throw new Error(`creating the table failed: ${created.stderr}`)

  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const server = await startProcess('node', ['dist/src/server.js'], {
    PORT: String(port),
    DYNAMODB_ENDPOINT: storeEndpoint,
    LOCAL_AUTH_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_MAX: '1000000',
    // A bounded heap makes V8 collect garbage instead of growing the heap
    // while memory is plentiful, so resident memory reflects live data, and
    // a leak ends the run with an out-of-memory crash.
    NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MB}`,
  }, '', 60_000)
  try {
    // With LOG_LEVEL=warn the server prints no start line, so wait for /health.
    for (;;) {
      const healthy = await fetch(`${base}/health`).then((response) => response.ok, () => false)
      if (healthy) break
      await sleep(100)
    }

    const devices: Device[] = []
    for (let user = 0; user < USERS; user++) {
      const userId = `soak-user-${user}`
      const token = await signLocalToken(SECRET, userId, SECONDS + 3600)
      for (let index = 0; index < DEVICES_PER_USER; index++) {
        devices.push({ userId, token, cursor: undefined, notes: new Map(), received: new Set(), duplicates: 0 })
      }
    }

    const started = Date.now()
    const until = started + SECONDS * 1000
    const memory: number[] = []
    const sampler = (async () => {
      while (Date.now() < until) {
        memory.push(await residentMemoryBytes(base))
        await sleep(2000)
      }
    })()
    await Promise.all(devices.map((device) => runDevice(base, device, until)))
    await sampler
    const elapsedSeconds = (Date.now() - started) / 1000

    // Every device pulls to the end; then each must hold the server's final notes.
    for (const device of devices) await pullToEnd(base, device)
    let mismatches = 0
    for (let user = 0; user < USERS; user++) {
      const reference: Device = { ...devices[user * DEVICES_PER_USER] as Device, cursor: undefined, notes: new Map(), received: new Set(), duplicates: 0 }
      await pullToEnd(base, reference)
      for (const device of devices.slice(user * DEVICES_PER_USER, (user + 1) * DEVICES_PER_USER)) {
        for (const [noteId, note] of reference.notes) {
          if (device.notes.get(noteId)?.version !== note.version) mismatches++
        }
        if (device.notes.size !== reference.notes.size) mismatches++
      }
    }
    const duplicates = devices.reduce((sum, device) => sum + device.duplicates, 0)

    const third = Math.max(1, Math.floor(memory.length / 3))
    const middleRss = median(memory.slice(third, 2 * third))
    const lateRss = median(memory.slice(2 * third))
    const growth = lateRss / middleRss

    console.log(`soak: ${SECONDS} s, ${USERS} users x ${DEVICES_PER_USER} devices`)
    console.log(`requests: ${stats.requests} (${(stats.requests / elapsedSeconds).toFixed(0)}/s), pushes ${stats.pushes}, pull pages ${stats.pulls}, conflicts ${stats.conflicts}`)
    console.log(`latency ms: p50 ${percentile(stats.latenciesMs, 0.5).toFixed(1)}, p99 ${percentile(stats.latenciesMs, 0.99).toFixed(1)}`)
    console.log(`errors: ${stats.errors.length}, lost or stale notes: ${mismatches}, duplicated changes: ${duplicates}`)
    console.log(`resident memory MB: middle third ${(middleRss / 1e6).toFixed(1)}, last third ${(lateRss / 1e6).toFixed(1)}, growth x${growth.toFixed(2)} (limit x${MAX_RSS_GROWTH})`)
    for (const error of stats.errors.slice(0, 5)) console.log(`  ${error}`)

    const passed = stats.errors.length === 0 && mismatches === 0 && duplicates === 0 && growth <= MAX_RSS_GROWTH
    console.log(passed ? 'soak passed' : 'soak FAILED')
    return passed ? 0 : 1
  } finally {
    server.child.kill('SIGTERM')
    await server.exited
    store.child.kill('SIGTERM')
    await store.exited
  }
}

process.exitCode = await main()
