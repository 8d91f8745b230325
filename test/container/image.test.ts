// Reproduces the Dockerfile's build and runtime stages in a temporary folder,
// without a Docker engine, and runs the result. The server then has only the
// production dependencies that `npm ci --omit=dev` installs. The test fails
// when a module that the server, the CLIs or the health check load at run
// time is missing from `dependencies` or from the runtime stage's COPYs.
//
// NOTE: the processes run on this machine's Node.js, not the Node 22 of the
// image, and file ownership (chown, USER node) is not reproduced.
import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, posix } from 'node:path'
import { freePort } from '../helpers/process.js'
import { copySteps, readDockerfile, repoRoot, runCommands, type Stage } from './read-dockerfile.js'

// npm ci downloads the production dependencies unless npm's cache has them.
t.setTimeout(15 * 60_000)

const STARTUP_TIMEOUT_MS = 30_000
/** The server's drain allowance (SHUTDOWN_GRACE_MS, 10 s) plus a margin. */
const SHUTDOWN_TIMEOUT_MS = 20_000
const TEST_SECRET = 'image-test-secret-0123456789abcdef'
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

const dockerfile = readDockerfile()
const runtime = dockerfile.finalStage
const root = mkdtempSync(join(tmpdir(), 'notes-sync-image-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))

/** Returns the folder that mirrors a stage's WORKDIR. */
function stageFolder (stage: Stage) {
  return join(root, 'stages', stage.name)
}

/** Maps an absolute or relative path inside a stage's image to the stage folder. */
function hostPath (stage: Stage, imagePath: string) {
  const absolute = posix.resolve(stage.workdir, imagePath)
  const relative = posix.relative(stage.workdir, absolute)
  if (relative.startsWith('..')) {
    throw new Error(`${imagePath} is outside WORKDIR ${stage.workdir} of stage ${stage.name}. This test reproduces only paths below WORKDIR.`)
  }
  return join(stageFolder(stage), relative)
}

/** Applies a stage's COPY instructions with Docker's rules for files and folders. */
function applyCopies (stage: Stage) {
  for (const step of copySteps(stage)) {
    const sourceStage = step.fromStage === null ? null : dockerfile.stage(step.fromStage)
    const intoFolder = step.destination.endsWith('/') || step.sources.length > 1
    for (const source of step.sources) {
      const from = sourceStage === null ? join(repoRoot, source) : hostPath(sourceStage, source)
      if (!existsSync(from)) throw new Error(`COPY source ${source} not found at ${from}`)
      // A folder's contents land in the destination; a file lands inside it
      // when the destination is a folder.
      const to = intoFolder && statSync(from).isFile()
        ? join(hostPath(stage, step.destination), basename(source))
        : hostPath(stage, step.destination)
      mkdirSync(dirname(to), { recursive: true })
      cpSync(from, to, { recursive: true })
    }
  }
}

/** Returns the environment for npm without tap's loaders, which NODE_OPTIONS carries. */
function npmEnvironment () {
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  delete env.NODE_PATH
  return env
}

function runNpm (args: string[], cwd: string) {
  const result = spawnSync('npm', args, { cwd, env: npmEnvironment(), encoding: 'utf8' })
  if (result.status !== 0) {
    throw new Error(`npm ${args.join(' ')} failed in ${cwd} (exit ${result.status}):\n${result.stdout}\n${result.stderr}`)
  }
}

/**
 * Reproduces the build stage: its COPYs, then its RUN commands with the
 * repository's node_modules in place of `npm ci`.
 */
function buildStage (stage: Stage) {
  mkdirSync(stageFolder(stage), { recursive: true })
  applyCopies(stage)
  for (const command of runCommands(stage)) {
    if (/^npm ci\b/.test(command)) {
      symlinkSync(join(repoRoot, 'node_modules'), join(stageFolder(stage), 'node_modules'), 'dir')
    } else if (/^npm run [\w:-]+$/.test(command)) {
      runNpm(command.split(' ').slice(1), stageFolder(stage))
    } else {
      throw new Error(`The build stage command "${command}" is not reproduced by this test; extend buildStage()`)
    }
  }
}

/**
 * Reproduces the runtime stage: its COPYs, the production install exactly
 * as the Dockerfile writes it, and the folders it creates. It skips
 * commands that change nothing this test reads.
 */
function buildRuntimeStage (stage: Stage) {
  mkdirSync(stageFolder(stage), { recursive: true })
  applyCopies(stage)
  for (const command of runCommands(stage)) {
    if (/^npm ci\b/.test(command)) {
      runNpm(command.split(' ').slice(1), stageFolder(stage))
    } else if (/^mkdir( -p)? [\w./-]+$/.test(command)) {
      mkdirSync(join(stageFolder(stage), command.split(' ').at(-1) as string), { recursive: true })
    } else if (/^npm cache clean\b/.test(command) || /^chown /.test(command)) {
      // Cache cleaning and ownership do not change what the server loads.
    } else {
      throw new Error(`The runtime stage command "${command}" is not reproduced by this test; extend buildRuntimeStage()`)
    }
  }
}

/** Returns the variables that the runtime stage sets with ENV. */
function imageEnvironment () {
  const env: Record<string, string> = {}
  for (const instruction of runtime.template.getENVs()) {
    for (const property of instruction.getProperties()) env[property.getName()] = property.getValue() ?? ''
  }
  return env
}

/**
 * Returns the environment for a process of the image: only PATH, the image's
 * ENV and `extra`, so nothing leaks in from tap or this machine.
 */
function containerEnvironment (extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...imageEnvironment(), ...extra }
}

function runNode (args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, args, {
    cwd: stageFolder(runtime),
    env,
    encoding: 'utf8',
    timeout: 60_000,
  })
}

interface RunningProcess {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

/** Starts a long-running node process in the runtime folder and ends it at teardown. */
function startNode (t: Test, args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, args, { cwd: stageFolder(runtime), env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk) => { output += chunk })
  child.stderr?.on('data', (chunk) => { output += chunk })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return { child, output: () => output, exited }
}

/** Polls `url` until it returns `status`, or fails after STARTUP_TIMEOUT_MS. */
async function waitForStatus (url: string, status: number, server: RunningProcess) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  let last = 'no response'
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) {
      throw new Error(`server exited with ${server.child.exitCode} before ${url} returned ${status}:\n${server.output()}`)
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) })
      if (response.status === status) return
      last = `status ${response.status}`
    } catch (error) {
      last = (error as Error).message
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${url} did not return ${status} within ${STARTUP_TIMEOUT_MS} ms (last: ${last}):\n${server.output()}`)
}

/** Resolves with the exit code, or null when the process is still running after `ms`. */
function exitWithin (server: RunningProcess, ms: number) {
  return Promise.race([server.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))])
}

/**
 * Starts the image's CMD with `env`, then checks health, readiness, the
 * health check script, a token from the token CLI, one push and one pull,
 * and a clean exit on SIGTERM.
 */
async function checkServer (t: Test, env: Record<string, string>) {
  const port = await freePort()
  const serverEnv = { ...env, HOST: '127.0.0.1', PORT: String(port) }
  const base = `http://127.0.0.1:${port}`
  const server = startNode(t, ['dist/src/server.js'], serverEnv)

  await waitForStatus(`${base}/health`, 200, server)
  const health = await fetch(`${base}/health`)
  t.same(await health.json(), { status: 'ok' }, 'GET /health returns {"status":"ok"}')
  await waitForStatus(`${base}/ready`, 200, server)
  t.pass('GET /ready returns 200')

  // The health check runs with the image's HOST (0.0.0.0), as in the container.
  const healthcheck = runNode(['docker/healthcheck.mjs'], { ...serverEnv, HOST: imageEnvironment().HOST ?? '0.0.0.0' })
  t.equal(healthcheck.status, 0, 'docker/healthcheck.mjs exits 0 while the server runs', { stderr: healthcheck.stderr })

  const token = runNode(['dist/src/cli/token.js', 'alice'], serverEnv)
  t.equal(token.status, 0, 'token CLI exits 0', { stderr: token.stderr })
  const bearer = token.stdout.trim()
  t.match(bearer, JWT, 'token CLI prints a JWT')

  const anonymous = await fetch(`${base}/notes`)
  t.equal(anonymous.status, 401, 'GET /notes without a token returns 401')

  const headers = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }
  const push = await fetch(`${base}/notes`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ noteId: 'image-check', title: 'Image check', content: 'written by the image test' }),
  })
  t.equal(push.status, 201, 'POST /notes with the CLI token creates the note', { body: await push.clone().text() })
  const pull = await fetch(`${base}/notes`, { headers })
  t.equal(pull.status, 200, 'GET /notes with the CLI token returns 200')
  const pulled = await pull.json() as { notes?: Array<{ noteId: string }> }
  t.same(pulled.notes?.map((note) => note.noteId), ['image-check'], 'the pull returns the pushed note')

  server.child.kill('SIGTERM')
  const code = await exitWithin(server, SHUTDOWN_TIMEOUT_MS)
  t.equal(code, 0, `server exits 0 within ${SHUTDOWN_TIMEOUT_MS} ms of SIGTERM`, { output: server.output() })

  const afterStop = runNode(['docker/healthcheck.mjs'], serverEnv)
  t.equal(afterStop.status, 1, 'docker/healthcheck.mjs exits 1 once the server is gone')
}

t.test('production image contents', async (t) => {
  // Node would resolve a missing package from a node_modules folder above
  // the runtime folder, which would hide it.
  for (let folder = dirname(root); ; folder = dirname(folder)) {
    t.notOk(existsSync(join(folder, 'node_modules')), `no node_modules above the test folder in ${folder}`)
    if (dirname(folder) === folder) break
  }

  const buildStages = dockerfile.stages.filter((stage) => stage !== runtime)
  for (const stage of buildStages) buildStage(stage)
  buildRuntimeStage(runtime)

  const folder = stageFolder(runtime)
  t.ok(existsSync(join(folder, 'dist/src/server.js')), 'dist/src/server.js is in the image')
  t.notOk(existsSync(join(folder, 'src')), 'TypeScript sources are not in the image')
  for (const devDependency of ['typescript', 'tap', '@types/node', 'dockerfile-ast']) {
    t.notOk(existsSync(join(folder, 'node_modules', devDependency)), `dev dependency ${devDependency} is not installed`)
  }

  t.test('embedded store in memory', async (t) => {
    await checkServer(t, containerEnvironment({
      STORE: 'embedded',
      DATA_DIR: ':memory:',
      AUTH_MODE: 'local',
      LOCAL_AUTH_SECRET: TEST_SECRET,
      LOG_LEVEL: 'warn',
    }))
  })

  // `docker run` with no settings: the embedded store writes to the image's
  // .data folder and keeps a generated local-auth secret there.
  t.test('image defaults', async (t) => {
    t.ok(existsSync(join(folder, '.data')), 'the runtime stage creates .data for the embedded store')
    await checkServer(t, containerEnvironment({ LOG_LEVEL: 'warn' }))
  })

  // The Compose stack: init runs the create-table CLI against DynamoDB Local,
  // then api starts. dynalite, a production dependency, replaces DynamoDB
  // Local here.
  t.test('table created by the CLI, then DynamoDB store', async (t) => {
    const dynamodbPort = await freePort()
    const dynalite = startNode(t, [
      '--input-type=module',
      '--eval',
      `import dynalite from 'dynalite'
       dynalite().listen(${dynamodbPort}, '127.0.0.1', () => console.log('dynalite listening'))`,
    ], { PATH: process.env.PATH ?? '' })
    t.teardown(() => { dynalite.child.kill('SIGTERM') })

    const deadline = Date.now() + STARTUP_TIMEOUT_MS
    while (!dynalite.output().includes('dynalite listening')) {
      if (Date.now() > deadline || dynalite.child.exitCode !== null) {
        throw new Error(`dynalite did not start:\n${dynalite.output()}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }

    const env = containerEnvironment({
      NODE_ENV: 'development',
      STORE: 'dynamodb',
      DYNAMODB_ENDPOINT: `http://127.0.0.1:${dynamodbPort}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AUTH_MODE: 'local',
      LOCAL_AUTH_SECRET: TEST_SECRET,
      LOG_LEVEL: 'warn',
    })
    const first = runNode(['dist/src/cli/create-table.js'], env)
    t.equal(first.status, 0, 'create-table exits 0', { stderr: first.stderr })
    t.match(first.stdout, /created/, 'create-table creates the table')
    const second = runNode(['dist/src/cli/create-table.js'], env)
    t.equal(second.status, 0, 'create-table exits 0 when the table exists', { stderr: second.stderr })
    t.match(second.stdout, /already exists/, 'create-table reports the existing table')

    await checkServer(t, env)
  })
})
