import * as fs from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { resolveLocalSecret, SECRET_FILE_NAME } from '../../src/auth/local-secret.js'
import { signLocalToken } from '../../src/auth/local-tokens.js'
import { ConfigError, IN_MEMORY, loadConfig, type Config } from '../../src/config.js'

const ENV_SECRET = 'secret-from-the-environment-0123456789abcdef'

/** Create an empty folder under the OS temp folder, removed when the test ends. */
async function tempDir (t: Test): Promise<string> {
  const dir = await fs.mkdtemp(join(tmpdir(), 'notes-sync-secret-'))
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }))
  return dir
}

/** Config of a development server with an embedded store in `dataDir`. */
function embeddedConfig (dataDir: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', AUTH_MODE: 'local', STORE: 'embedded', DATA_DIR: dataDir, ...extra })
}

t.test('LOCAL_AUTH_SECRET wins over file', async (t) => {
  const dir = await tempDir(t)
  await fs.writeFile(join(dir, SECRET_FILE_NAME), 'secret-from-the-file\n')

  const secret = await resolveLocalSecret(embeddedConfig(dir, { LOCAL_AUTH_SECRET: ENV_SECRET }))

  t.equal(secret, ENV_SECRET)
  t.equal(await fs.readFile(join(dir, SECRET_FILE_NAME), 'utf8'), 'secret-from-the-file\n', 'the file is unchanged')
})

t.test('LOCAL_AUTH_SECRET writes no file', async (t) => {
  const dir = await tempDir(t)

  const secret = await resolveLocalSecret(embeddedConfig(dir, { LOCAL_AUTH_SECRET: ENV_SECRET }))

  t.equal(secret, ENV_SECRET)
  t.same(await fs.readdir(dir), [])
})

t.test('LOCAL_AUTH_SECRET works without data dir', async (t) => {
  const config = loadConfig({ AUTH_MODE: 'local', STORE: 'dynamodb', LOCAL_AUTH_SECRET: ENV_SECRET })

  t.equal(await resolveLocalSecret(config), ENV_SECRET)
})

t.test('generates secret file with mode 0600', async (t) => {
  const dataDir = join(await tempDir(t), 'nested', 'data')

  const secret = await resolveLocalSecret(embeddedConfig(dataDir))

  t.match(secret, /^[0-9a-f]{64}$/, '32 random bytes as hex')
  const file = join(dataDir, SECRET_FILE_NAME)
  t.equal(await fs.readFile(file, 'utf8'), `${secret}\n`)
  t.equal((await fs.stat(file)).mode & 0o777, 0o600)
})

t.test('second call returns same secret', async (t) => {
  const config = embeddedConfig(await tempDir(t))

  const first = await resolveLocalSecret(config)
  const second = await resolveLocalSecret(config)

  t.equal(second, first)
})

t.test('concurrent calls return one secret', async (t) => {
  const dataDir = await tempDir(t)
  const config = embeddedConfig(dataDir)

  const secrets = await Promise.all(Array.from({ length: 10 }, () => resolveLocalSecret(config)))

  t.equal(new Set(secrets).size, 1, 'every call returns the same secret')
  t.match(secrets[0], /^[0-9a-f]{64}$/)
  t.equal(await fs.readFile(join(dataDir, SECRET_FILE_NAME), 'utf8'), `${secrets[0]}\n`)
})

t.test('reads existing secret file', async (t) => {
  const dataDir = await tempDir(t)
  await fs.writeFile(join(dataDir, SECRET_FILE_NAME), '  kept-secret-0123456789abcdef0123456789  \n')

  const secret = await resolveLocalSecret(embeddedConfig(dataDir))

  t.equal(secret, 'kept-secret-0123456789abcdef0123456789', 'surrounding whitespace is trimmed')
})

t.test('rethrows read errors', async (t) => {
  const file = join(await tempDir(t), 'not-a-folder')
  await fs.writeFile(file, '')

  await t.rejects(resolveLocalSecret(embeddedConfig(file)), { code: 'ENOTDIR' })
})

t.test('rethrows write errors', async (t) => {
  const diskFull = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
  const { resolveLocalSecret: resolveWithFullDisk } = await t.mockImport<
    typeof import('../../src/auth/local-secret.js')
  >('../../src/auth/local-secret.js', {
    'node:fs/promises': {
      ...fs,
      writeFile: async () => { throw diskFull },
    },
  })
  const dataDir = await tempDir(t)

  await t.rejects(resolveWithFullDisk(embeddedConfig(dataDir)), diskFull)
  t.same(await fs.readdir(dataDir), [], 'no secret file is left behind')
})

t.test('rejects missing secret without data dir', async (t) => {
  const base = embeddedConfig('unused')
  const configs: Array<[string, Config]> = [
    ['dynamodb store', { ...base, store: { kind: 'dynamodb', endpoint: undefined, region: undefined } }],
    ['in-memory store', { ...base, store: { kind: 'embedded', dataDir: null, region: 'us-east-1' } }],
  ]

  for (const [label, config] of configs) {
    await t.rejects(resolveLocalSecret(config), { message: /LOCAL_AUTH_SECRET is missing/ }, label)
  }
})

t.test('loadConfig requires secret off disk', async (t) => {
  const environments: Array<[string, Record<string, string>]> = [
    ['in-memory store', { AUTH_MODE: 'local', STORE: 'embedded', DATA_DIR: IN_MEMORY }],
    ['dynamodb store', { AUTH_MODE: 'local', STORE: 'dynamodb' }],
    ['dynamodb endpoint', { AUTH_MODE: 'local', DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' }],
    ['default auth mode', { STORE: 'dynamodb' }],
  ]

  for (const [label, environment] of environments) {
    t.throws(() => loadConfig(environment), ConfigError, `${label}: ConfigError`)
    t.throws(() => loadConfig(environment), { message: /LOCAL_AUTH_SECRET is missing/ }, `${label}: names LOCAL_AUTH_SECRET`)
  }
})

t.test('loadConfig allows secret on disk', async (t) => {
  const config = loadConfig({ AUTH_MODE: 'local', STORE: 'embedded', DATA_DIR: 'some-folder' })

  t.same(config.auth, { mode: 'local', secret: undefined })
  t.same(config.store, { kind: 'embedded', dataDir: 'some-folder', region: 'us-east-1' })
})

t.test('server accepts generated secret', async (t) => {
  const config = embeddedConfig(await tempDir(t))
  const app = await buildApp(config)
  t.teardown(() => app.close())
  const token = await signLocalToken(await resolveLocalSecret(config), 'alice', 60)

  const response = await app.inject({ method: 'GET', url: '/notes', headers: { authorization: `Bearer ${token}` } })

  t.equal(response.statusCode, 200)
})
