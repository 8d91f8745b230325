import t from 'tap'
import { ConfigError, IN_MEMORY, describeStore, loadConfig } from '../src/config.js'

const COGNITO = {
  AUTH_MODE: 'cognito',
  COGNITO_USER_POOL_ID: 'eu-west-1_AbC123xyz',
  COGNITO_CLIENT_ID: 'abc123',
}

function problemsOf (env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('defaults run a development setup', async (t) => {
  const config = loadConfig({})

  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 3000)
  t.equal(config.logLevel, 'info')
  t.equal(config.tableName, 'notes')
  t.same(config.store, { kind: 'embedded', dataDir: '.data', region: 'us-east-1' })
  t.same(config.auth, { mode: 'local', secret: undefined })
  t.ok(Object.isFrozen(config))
})

t.test('empty variables count as unset', async (t) => {
  const config = loadConfig({ PORT: '', AUTH_MODE: '', LOG_LEVEL: '' })

  t.equal(config.port, 3000)
  t.equal(config.auth.mode, 'local')
})

t.test('parses every variable', async (t) => {
  const config = loadConfig({
    NODE_ENV: 'production',
    HOST: '0.0.0.0',
    PORT: '8080',
    LOG_LEVEL: 'warn',
    NOTES_TABLE: 'prod-notes',
    STORE: 'dynamodb',
    AWS_REGION: 'eu-west-1',
    COGNITO_TOKEN_USE: 'id',
    ...COGNITO,
  })

  t.equal(config.port, 8080)
  t.equal(config.logLevel, 'warn')
  t.same(config.store, { kind: 'dynamodb', endpoint: undefined, region: 'eu-west-1' })
  t.same(config.auth, { mode: 'cognito', userPoolId: 'eu-west-1_AbC123xyz', clientId: 'abc123', tokenUse: 'id' })
})

t.test('an endpoint selects the dynamodb store', async (t) => {
  const config = loadConfig({ DYNAMODB_ENDPOINT: 'http://localhost:8000', LOCAL_AUTH_SECRET: 'x'.repeat(32) })

  t.same(config.store, { kind: 'dynamodb', endpoint: 'http://localhost:8000', region: 'us-east-1' })
})

t.test('invalid values name the variable and accepted values', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'abc' }, /PORT="abc" is invalid; expected an integer from 0 to 65535/],
    [{ PORT: '70000' }, /PORT="70000"/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud" is invalid; expected one of fatal, error, warn, info, debug, trace, silent/],
    [{ STORE: 'sqlite' }, /STORE="sqlite" is invalid; expected one of embedded, dynamodb/],
    [{ AUTH_MODE: 'none' }, /AUTH_MODE="none" is invalid; expected one of cognito, local/],
    [{ NODE_ENV: 'prod' }, /NODE_ENV="prod"/],
    [{ NOTES_TABLE: 'a b' }, /NOTES_TABLE="a b"/],
    [{ DYNAMODB_ENDPOINT: 'localhost:8000' }, /DYNAMODB_ENDPOINT="localhost:8000" is invalid; expected an http/],
    [{ AWS_REGION: 'Europe' }, /AWS_REGION="Europe"/],
    [{ COGNITO_TOKEN_USE: 'refresh' }, /COGNITO_TOKEN_USE="refresh" is invalid; expected one of access, id/],
    [{ LOCAL_AUTH_SECRET: 'short' }, /LOCAL_AUTH_SECRET="short" is invalid; expected a random string of at least 32/],
  ]

  for (const [env, expected] of cases) {
    t.match(problemsOf(env).join('\n'), expected, JSON.stringify(env))
  }
})

t.test('lists every invalid variable at once', async (t) => {
  const problems = problemsOf({ PORT: 'abc', LOG_LEVEL: 'loud' })

  t.equal(problems.length, 2)
  t.match(new ConfigError(problems).message, /Invalid configuration:\n {2}- PORT/)
})

t.test('cognito requires its pool and client', async (t) => {
  const problems = problemsOf({ AUTH_MODE: 'cognito' })

  t.match(problems.join('\n'), /COGNITO_USER_POOL_ID is missing/)
  t.match(problems.join('\n'), /COGNITO_CLIENT_ID is missing/)
})

t.test('production rejects development settings', async (t) => {
  t.match(problemsOf({ NODE_ENV: 'production', STORE: 'embedded', ...COGNITO }).join('\n'), /STORE=embedded .* rejected/)
  t.match(problemsOf({ NODE_ENV: 'production', AUTH_MODE: 'local', LOCAL_AUTH_SECRET: 'x'.repeat(32) }).join('\n'),
    /AUTH_MODE=local is rejected/)
  t.match(problemsOf({ NODE_ENV: 'production' }).join('\n'), /COGNITO_USER_POOL_ID is missing/)
})

t.test('production defaults to dynamodb and cognito', async (t) => {
  const config = loadConfig({ NODE_ENV: 'production', COGNITO_USER_POOL_ID: 'eu-west-1_Pool', COGNITO_CLIENT_ID: 'c1' })

  t.equal(config.store.kind, 'dynamodb')
  t.equal(config.auth.mode, 'cognito')
})

t.test('local auth needs a secret it can keep', async (t) => {
  t.match(problemsOf({ DATA_DIR: IN_MEMORY }).join('\n'), /LOCAL_AUTH_SECRET is missing/)
  t.match(problemsOf({ STORE: 'dynamodb' }).join('\n'), /LOCAL_AUTH_SECRET is missing/)
  t.equal(loadConfig({ DATA_DIR: IN_MEMORY, LOCAL_AUTH_SECRET: 'x'.repeat(32) }).store.kind, 'embedded')
})

t.test('embedded store rejects an endpoint', async (t) => {
  const problems = problemsOf({ STORE: 'embedded', DYNAMODB_ENDPOINT: 'http://localhost:8000' })

  t.match(problems.join('\n'), /DYNAMODB_ENDPOINT is set but STORE=embedded/)
})

t.test('integers must be plain digits', async (t) => {
  for (const [name, value] of [['PORT', '3001.5'], ['PORT', '0x0BB9'], ['PORT', '3e3'], ['PORT', ' 3000'], ['RATE_LIMIT_MAX', '1.5']]) {
    t.match(problemsOf({ [name as string]: value as string }).join('\n'), `${name}="${value}" is invalid`, `${name}=${value}`)
  }
})

t.test('commands may skip auth settings', async (t) => {
  const config = loadConfig({ DYNAMODB_ENDPOINT: 'http://localhost:8000' }, { requireAuth: false })

  t.equal(config.store.kind, 'dynamodb')
  t.match(problemsOf({ DYNAMODB_ENDPOINT: 'http://localhost:8000' }).join('\n'), /LOCAL_AUTH_SECRET is missing/)
})

t.test('describeStore names the target', async (t) => {
  t.equal(describeStore(loadConfig({}).store), 'the embedded store')
  t.equal(describeStore(loadConfig({ DYNAMODB_ENDPOINT: 'http://localhost:8000' }, { requireAuth: false }).store), 'http://localhost:8000')
  t.equal(describeStore(loadConfig({ STORE: 'dynamodb' }, { requireAuth: false }).store), 'AWS')
})
