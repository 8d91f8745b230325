import { createHmac } from 'node:crypto'
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { SECRET_FILE_NAME } from '../../src/auth/local-secret.js'
import { TOKEN_USAGE, tokenCommand, type CommandOutput, type Environment } from '../../src/cli/commands.js'
import { loadConfig } from '../../src/config.js'
import { REPOSITORY_ROOT, run, type RunResult } from '../helpers/process.js'

const CLI = 'dist/src/cli/token.js'
const USAGE = /Usage: npm run token -- <userId> \[--expires-in <seconds>\]/
const ENV_SECRET = 'secret-from-the-environment-0123456789abcdef'

/**
 * Settings of a local-auth token command. Empty values count as unset, so
 * they also clear variables the child process inherits from the test run.
 */
function localEnv (extra: Record<string, string> = {}): Record<string, string> {
  return { NODE_ENV: 'development', AUTH_MODE: 'local', STORE: '', DYNAMODB_ENDPOINT: '', LOCAL_AUTH_SECRET: '', ...extra }
}

interface CommandResult {
  code: number
  stdout: string
  stderr: string
}

/** Run tokenCommand in this process with `args` and `env`, capturing its output. */
async function token (args: string[], env: Environment): Promise<CommandResult> {
  let stdout = ''
  let stderr = ''
  const output: CommandOutput = {
    out: (text) => { stdout += text },
    err: (text) => { stderr += text },
  }
  const code = await tokenCommand(args, env, output)
  return { code, stdout, stderr }
}

/** Run the compiled entry script as its own process. */
function tokenProcess (args: string[], env: Record<string, string>): Promise<RunResult> {
  return run('node', [CLI, ...args], env)
}

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'notes-sync-token-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

function decodePayload (jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8'))
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/** Assert that `jwt` expires `seconds` after some moment between `before` and now. */
function assertExpiresIn (t: Test, jwt: string, seconds: number, before: number): void {
  const exp = decodePayload(jwt).exp as number
  t.ok(exp >= before + seconds, `exp is ${exp - before} s after the command started, at least ${seconds} s`)
  t.ok(exp <= nowSeconds() + seconds, `exp is ${exp - nowSeconds()} s from now, at most ${seconds} s`)
}

// Each run of the compiled script starts a Node process, which takes seconds on a busy machine.
t.setTimeout(120_000)

t.before(async () => {
  // `npm test` builds dist/ before tap runs.
  await access(join(REPOSITORY_ROOT, CLI)).catch(() => {
    throw new Error(`${CLI} is missing; run "npm run build" before this test.`)
  })
})

t.test('token process output is accepted', async (t) => {
  const dataDir = await tempDir(t)

  const result = await tokenProcess(['alice'], localEnv({ DATA_DIR: dataDir }))

  t.equal(result.code, 0, result.stderr)
  t.equal(result.stderr, '')
  t.match(result.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one JWT on one line')
  t.same(await readdir(dataDir), [SECRET_FILE_NAME], 'the secret is kept in DATA_DIR')

  const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', AUTH_MODE: 'local', STORE: 'embedded', DATA_DIR: dataDir })
  const app = await buildApp(config)
  t.teardown(() => app.close())
  const response = await app.inject({
    method: 'GET',
    url: '/notes',
    headers: { authorization: `Bearer ${result.stdout.trim()}` },
  })
  t.equal(response.statusCode, 200)
})

t.test('token process sets --expires-in', async (t) => {
  const before = nowSeconds()

  const result = await tokenProcess(['alice', '--expires-in', '60'], localEnv({ LOCAL_AUTH_SECRET: ENV_SECRET }))

  t.equal(result.code, 0, result.stderr)
  assertExpiresIn(t, result.stdout.trim(), 60, before)
})

t.test('token process exit codes', async (t) => {
  const dataDir = await tempDir(t)
  const cases: Array<[string, string[], Record<string, string>, number, RegExp]> = [
    ['no userId', [], localEnv({ DATA_DIR: dataDir }), 2, USAGE],
    ['two userIds', ['alice', 'bob'], localEnv({ DATA_DIR: dataDir }), 2, USAGE],
    ['invalid --expires-in', ['alice', '--expires-in', 'abc'], localEnv({ DATA_DIR: dataDir }), 2, /--expires-in "abc" is invalid/],
    ['cognito mode', ['alice'], {
      AUTH_MODE: 'cognito',
      COGNITO_USER_POOL_ID: 'us-east-1_TestPool1',
      COGNITO_CLIENT_ID: 'testclient123',
    }, 1, /AUTH_MODE=cognito: get a token from the Cognito user pool/],
    ['invalid PORT', ['alice'], localEnv({ DATA_DIR: dataDir, PORT: 'abc' }), 1, /PORT="abc" is invalid/],
  ]

  const results = await Promise.all(cases.map(([, args, env]) => tokenProcess(args, env)))

  for (const [i, [label, , , code, message]] of cases.entries()) {
    const result = results[i] as RunResult
    t.equal(result.code, code, `${label}: exit code`)
    t.match(result.stderr, message, `${label}: message`)
    t.equal(result.stdout, '', `${label}: no token`)
  }
  t.same(await readdir(dataDir), [], 'no secret is generated')
})

t.test('token process --help', async (t) => {
  const result = await tokenProcess(['--help'], {})

  t.equal(result.code, 0)
  t.equal(result.stdout, TOKEN_USAGE)
  t.equal(result.stderr, '')
})

t.test('generates secret in DATA_DIR', async (t) => {
  const dataDir = await tempDir(t)

  const result = await token(['alice'], { DATA_DIR: dataDir })

  t.equal(result.code, 0, result.stderr)
  t.equal(result.stderr, '')
  const secret = (await readFile(join(dataDir, SECRET_FILE_NAME), 'utf8')).trim()
  const [header, payload, signature] = result.stdout.trim().split('.')
  t.equal(signature, createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url'), 'signed with the file secret')
  t.equal(decodePayload(result.stdout).sub, 'alice')
})

t.test('reuses secret across runs', async (t) => {
  const dataDir = await tempDir(t)

  const first = await token(['alice'], { DATA_DIR: dataDir })
  const secret = await readFile(join(dataDir, SECRET_FILE_NAME), 'utf8')
  const second = await token(['bob'], { DATA_DIR: dataDir })

  t.equal(first.code, 0)
  t.equal(second.code, 0)
  t.equal(await readFile(join(dataDir, SECRET_FILE_NAME), 'utf8'), secret, 'the secret file is unchanged')
})

t.test('signs with LOCAL_AUTH_SECRET', async (t) => {
  const result = await token(['alice'], { STORE: 'dynamodb', LOCAL_AUTH_SECRET: ENV_SECRET })

  t.equal(result.code, 0, result.stderr)
  const [header, payload, signature] = result.stdout.trim().split('.')
  t.same(JSON.parse(Buffer.from(header as string, 'base64url').toString('utf8')), { alg: 'HS256', typ: 'JWT' })
  t.equal(signature, createHmac('sha256', ENV_SECRET).update(`${header}.${payload}`).digest('base64url'), 'signed with LOCAL_AUTH_SECRET')
})

t.test('--expires-in sets exp', async (t) => {
  const before = nowSeconds()

  const result = await token(['alice', '--expires-in', '60'], { STORE: 'dynamodb', LOCAL_AUTH_SECRET: ENV_SECRET })

  t.equal(result.code, 0, result.stderr)
  assertExpiresIn(t, result.stdout.trim(), 60, before)
})

t.test('expires in an hour by default', async (t) => {
  const before = nowSeconds()

  const result = await token(['alice'], { STORE: 'dynamodb', LOCAL_AUTH_SECRET: ENV_SECRET })

  t.equal(result.code, 0, result.stderr)
  assertExpiresIn(t, result.stdout.trim(), 3600, before)
})

t.test('accepts userId of 256 characters', async (t) => {
  const result = await token(['u'.repeat(256)], { STORE: 'dynamodb', LOCAL_AUTH_SECRET: ENV_SECRET })

  t.equal(result.code, 0, result.stderr)
  t.equal(decodePayload(result.stdout).sub, 'u'.repeat(256))
})

t.test('rejects invalid arguments', async (t) => {
  const dataDir = await tempDir(t)
  const cases: Array<[string, string[], RegExp]> = [
    ['no userId', [], /Expected exactly one userId of 1 to 256 characters/],
    ['two userIds', ['alice', 'bob'], /Expected exactly one userId/],
    ['empty userId', [''], /Expected exactly one userId/],
    ['userId over 256 characters', ['u'.repeat(257)], /Expected exactly one userId/],
    ['unknown option', ['alice', '--bogus'], /--bogus/],
    ['--expires-in without value', ['alice', '--expires-in'], /--expires-in/],
  ]

  for (const [label, args, message] of cases) {
    const result = await token(args, { DATA_DIR: dataDir })
    t.equal(result.code, 2, `${label}: exit code`)
    t.match(result.stderr, message, `${label}: message`)
    t.match(result.stderr, USAGE, `${label}: usage`)
    t.equal(result.stdout, '', `${label}: no token`)
  }
  t.same(await readdir(dataDir), [], 'no secret is generated')
})

t.test('rejects invalid --expires-in', async (t) => {
  const dataDir = await tempDir(t)

  for (const value of ['abc', '0', '-5', '1.5', '1e3', ' 60', '', '9'.repeat(400)]) {
    const result = await token(['alice', `--expires-in=${value}`], { DATA_DIR: dataDir })
    const label = `"${value.slice(0, 12)}"`
    t.equal(result.code, 2, `${label}: exit code`)
    t.match(result.stderr, `--expires-in "${value}" is invalid`, `${label}: names the value`)
    t.match(result.stderr, 'whole number of seconds', `${label}: names the accepted values`)
    t.equal(result.stdout, '', `${label}: no token`)
  }
  t.same(await readdir(dataDir), [], 'no secret is generated')
})

t.test('cognito mode exits 1', async (t) => {
  const result = await token(['alice'], {
    AUTH_MODE: 'cognito',
    COGNITO_USER_POOL_ID: 'us-east-1_TestPool1',
    COGNITO_CLIENT_ID: 'testclient123',
  })

  t.equal(result.code, 1)
  t.match(result.stderr, /AUTH_MODE=cognito: get a token from the Cognito user pool/)
  t.equal(result.stdout, '')
})

t.test('invalid PORT exits 1', async (t) => {
  const result = await token(['alice'], { PORT: 'abc', LOCAL_AUTH_SECRET: ENV_SECRET })

  t.equal(result.code, 1)
  t.match(result.stderr, 'PORT="abc" is invalid; expected an integer from 0 to 65535.')
  t.equal(result.stdout, '')
})

t.test('missing secret exits 1', async (t) => {
  const result = await token(['alice'], { STORE: 'dynamodb' })

  t.equal(result.code, 1)
  t.match(result.stderr, /LOCAL_AUTH_SECRET is missing/)
  t.equal(result.stdout, '')
})

t.test('rethrows unexpected config errors', async (t) => {
  const failure = new TypeError('unexpected failure while reading settings')
  const commands = await t.mockImport<typeof import('../../src/cli/commands.js')>('../../src/cli/commands.js', {
    '../../src/config.js': {
      ...(await import('../../src/config.js')),
      ConfigError: class ConfigError extends Error {},
      loadConfig: () => { throw failure },
    },
  })
  const output: CommandOutput = { out: () => {}, err: () => {} }

  await t.rejects(commands.tokenCommand(['alice'], {}, output), failure)
})

t.test('DATA_DIR that is a file rejects', async (t) => {
  const file = join(await tempDir(t), 'not-a-folder')
  await writeFile(file, '')

  await t.rejects(token(['alice'], { DATA_DIR: file }), { code: 'ENOTDIR' })
})

t.test('--help prints usage', async (t) => {
  for (const flag of ['--help', '-h']) {
    const result = await token([flag], {})
    t.equal(result.code, 0, `${flag}: exit code`)
    t.equal(result.stdout, TOKEN_USAGE, `${flag}: usage`)
    t.equal(result.stderr, '', `${flag}: no error`)
  }
})
