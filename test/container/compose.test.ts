// Checks docker-compose.yml through `docker-compose config`, which validates
// and resolves the file without a Docker engine. Debian's docker-compose
// package (Compose v1.29) provides the command. When it is missing, the test
// uses Compose v2 (`docker compose`).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config.js'
import { readDockerfile, repoRoot } from './read-dockerfile.js'

const INSTALL_HINT =
  'docker-compose is not installed. Install it with ' +
  '"apt-get install -y --no-install-recommends docker-compose" (Debian) or install Docker Compose v2'

/** A value that satisfies the service's LOCAL_AUTH_SECRET rule (at least 32 characters). */
const TEST_SECRET = 'compose-test-secret-0123456789abcdef'

type ComposeCommand = [string, ...string[]]

/** Returns the Compose command to run, or null when neither v1 nor v2 is installed. */
function findCompose (): ComposeCommand | null {
  const candidates: ComposeCommand[] = [['docker-compose'], ['docker', 'compose']]
  for (const candidate of candidates) {
    const [command, ...args] = candidate
    const result = spawnSync(command, [...args, 'version'], { encoding: 'utf8' })
    if (result.error === undefined && result.status === 0) return candidate
  }
  return null
}

/** Variables that docker-compose.yml reads from the environment or .env. */
const INTERPOLATED_VARIABLES = ['LOCAL_AUTH_SECRET', 'LOG_LEVEL']

/** Returns the environment for Compose without variables that could change the result. */
function composeEnvironment () {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (INTERPOLATED_VARIABLES.includes(name) || name.startsWith('COMPOSE_')) continue
    env[name] = value
  }
  return env
}

/**
 * Runs `config` on the repository's docker-compose.yml with a temporary env
 * file in place of the repository's .env.
 */
function runConfig (compose: ComposeCommand, envFileText: string) {
  const folder = mkdtempSync(join(tmpdir(), 'notes-sync-compose-'))
  try {
    const envFile = join(folder, '.env')
    writeFileSync(envFile, envFileText)
    const [command, ...prefix] = compose
    return spawnSync(
      command,
      [...prefix, '--env-file', envFile, '--file', join(repoRoot, 'docker-compose.yml'), 'config'],
      { cwd: repoRoot, env: composeEnvironment(), encoding: 'utf8', timeout: 60_000 },
    )
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

// NOTE: the long-syntax branches of publishedPort() and mount() follow the
// Compose specification but have not been run against Compose v2 output.
interface PublishedPort { hostIp: string | undefined, published: string, target: string }
interface Mount { type: string, source: string, target: string }
type Service = Record<string, any>

/** Reads a port entry in Compose v1 short syntax ("127.0.0.1:3000:3000/tcp") or v2 long syntax. */
function publishedPort (entry: unknown): PublishedPort {
  if (typeof entry === 'string') {
    const parts = entry.replace(/\/(tcp|udp)$/, '').split(':')
    const [target, published, hostIp] = parts.reverse()
    return { hostIp, published: published ?? '', target: target ?? '' }
  }
  const port = entry as { host_ip?: string, published?: string | number, target: string | number }
  return { hostIp: port.host_ip, published: String(port.published ?? ''), target: String(port.target) }
}

/** Reads a volume entry in Compose v1 short syntax ("name:/path:rw") or v2 long syntax. */
function mount (entry: unknown, namedVolumes: string[]): Mount {
  if (typeof entry === 'string') {
    const [source = '', target = ''] = entry.split(':')
    return { type: namedVolumes.includes(source) ? 'volume' : 'bind', source, target }
  }
  const volume = entry as Mount
  return { type: volume.type, source: volume.source, target: volume.target }
}

/** Returns depends_on as a map from service name to condition. */
function dependencies (service: Service): Record<string, string> {
  const dependsOn = service.depends_on ?? {}
  if (Array.isArray(dependsOn)) return Object.fromEntries(dependsOn.map((name) => [name, 'service_started']))
  return Object.fromEntries(
    Object.entries(dependsOn as Record<string, { condition?: string }>)
      .map(([name, options]) => [name, options.condition ?? 'service_started']),
  )
}

/** Converts a Compose duration such as "15s" or "1m30s" to milliseconds. */
function durationMs (text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001 }
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g)]
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== text) {
    throw new Error(`"${text}" is not a Compose duration`)
  }
  return parts.reduce((total, [, value, unit]) => total + Number(value) * (units[unit as string] ?? 0), 0)
}

/**
 * Reads SHUTDOWN_GRACE_MS from src/server.ts. The test cannot import it,
 * because importing server.ts starts the server.
 */
function shutdownGraceMs (): number {
  const source = readFileSync(join(repoRoot, 'src/server.ts'), 'utf8')
  const match = /SHUTDOWN_GRACE_MS\s*=\s*([\d_]+)/.exec(source)
  if (match?.[1] === undefined) throw new Error('src/server.ts no longer defines SHUTDOWN_GRACE_MS as a number')
  return Number(match[1].replaceAll('_', ''))
}

/** Returns the environment that the image (ENV) and Compose together give a container. */
function containerEnvironment (service: Service): Record<string, string> {
  const env: Record<string, string> = {}
  for (const instruction of readDockerfile().finalStage.template.getENVs()) {
    for (const property of instruction.getProperties()) {
      env[property.getName()] = property.getValue() ?? ''
    }
  }
  return { ...env, ...(service.environment as Record<string, string>) }
}

t.test('Compose duration parser', async (t) => {
  t.equal(durationMs('15s'), 15_000, 'seconds')
  t.equal(durationMs('1m30s'), 90_000, 'minutes and seconds')
  t.equal(durationMs('500ms'), 500, 'milliseconds')
  t.throws(() => durationMs('15'), 'a number without a unit is rejected')
})

const compose = findCompose()

if (compose === null && process.env.CI === 'true') {
  t.fail(INSTALL_HINT)
} else if (compose === null) {
  // A developer machine without Compose still runs compose-schema.test.ts;
  // CI installs docker-compose and runs these checks as well.
  t.test('docker-compose config', { skip: INSTALL_HINT }, async () => {})
} else {
  t.test('config fails without LOCAL_AUTH_SECRET', async (t) => {
    const cases = {
      'variable missing': '',
      'variable empty': 'LOCAL_AUTH_SECRET=\n',
    }
    for (const [name, envFileText] of Object.entries(cases)) {
      const result = runConfig(compose, envFileText)
      t.not(result.status, 0, `${name}: config exits non-zero`)
      t.match(result.stderr, /LOCAL_AUTH_SECRET/, `${name}: the error names LOCAL_AUTH_SECRET`)
      t.match(result.stderr, /\.env\b/, `${name}: the error says to set it in .env`)
    }
  })

  t.test('config takes LOG_LEVEL from .env', async (t) => {
    const result = runConfig(compose, `LOCAL_AUTH_SECRET=${TEST_SECRET}\nLOG_LEVEL=debug\nHOST=127.0.0.1\n`)
    t.equal(result.status, 0, 'config succeeds', { stderr: result.stderr })
    const services = (parse(result.stdout) as { services: Record<string, Service> }).services
    t.equal(services.api?.environment?.LOG_LEVEL, 'debug', 'api gets LOG_LEVEL from .env')
    t.equal(services.init?.environment?.LOG_LEVEL, 'debug', 'init gets LOG_LEVEL from .env')
    t.notOk(services.api?.environment?.HOST, 'HOST from .env does not reach the container, which needs 0.0.0.0')
  })

  t.test('config with LOCAL_AUTH_SECRET', async (t) => {
    const result = runConfig(compose, `LOCAL_AUTH_SECRET=${TEST_SECRET}\n`)
    t.equal(result.status, 0, 'config succeeds', { stderr: result.stderr })
    if (result.status !== 0) return

    const config = parse(result.stdout) as { services: Record<string, Service>, volumes?: Record<string, unknown> }
    const { services } = config
    const namedVolumes = Object.keys(config.volumes ?? {})
    t.same(Object.keys(services).sort(), ['api', 'dynamodb', 'init'], 'services are dynamodb, init and api')
    const { api, dynamodb, init } = services as { api: Service, dynamodb: Service, init: Service }

    t.test('dynamodb service', async (t) => {
      t.match(dynamodb.image, /^amazon\/dynamodb-local:\d+\.\d+\.\d+$/, `image pinned to an exact version: ${dynamodb.image}`)

      const command: string[] = dynamodb.command ?? []
      t.ok(command.includes('-sharedDb'), 'one database for every access key and region (-sharedDb)')
      const dbPathIndex = command.indexOf('-dbPath')
      const dbPath = dbPathIndex >= 0 ? command[dbPathIndex + 1] : undefined
      t.ok(dbPath, 'command sets -dbPath')
      t.notOk(command.includes('-inMemory'), 'data is kept on disk, not in memory')

      const mounts = (dynamodb.volumes ?? []).map((entry: unknown) => mount(entry, namedVolumes))
      const dataMount = mounts.find((candidate: Mount) => candidate.target === dbPath)
      t.ok(dataMount, `a volume is mounted at the -dbPath folder ${dbPath}`)
      t.equal(dataMount?.type, 'volume', 'the data folder is a named volume')
      t.ok(namedVolumes.includes(dataMount?.source ?? ''), `volume ${dataMount?.source} is declared under volumes`)
      t.equal(dynamodb.user, 'root', 'runs as root, so DynamoDB Local can write to the new volume')

      const healthcheck = dynamodb.healthcheck ?? {}
      const test: string[] = healthcheck.test ?? []
      t.ok(['CMD', 'CMD-SHELL'].includes(test[0] ?? ''), 'healthcheck has a command')
      t.ok(test.some((part) => part.includes('localhost:8000')), 'healthcheck requests port 8000 inside the container')
      t.ok(healthcheck.interval, 'healthcheck sets an interval')
      t.ok(healthcheck.timeout, 'healthcheck sets a timeout')
      t.ok(Number(healthcheck.retries) >= 1, 'healthcheck sets retries')
    })

    t.test('init service', async (t) => {
      t.equal(init.build?.context, repoRoot.replace(/\/$/, ''), 'built from the repository Dockerfile')
      t.same(init.command, ['node', 'dist/src/cli/create-table.js'], 'runs the create-table CLI')
      t.same(dependencies(init), { dynamodb: 'service_healthy' }, 'waits for a healthy dynamodb')
      t.notOk(init.ports, 'publishes no port')
    })

    t.test('api service', async (t) => {
      t.equal(api.build?.context, repoRoot.replace(/\/$/, ''), 'built from the repository Dockerfile')
      t.notOk(api.command, 'runs the image CMD, node as PID 1')
      t.same(
        dependencies(api),
        { dynamodb: 'service_healthy', init: 'service_completed_successfully' },
        'starts after dynamodb is healthy and the table exists',
      )
      const ports = (api.ports ?? []).map(publishedPort)
      t.same(ports, [{ hostIp: '127.0.0.1', published: '3000', target: '3000' }], 'publishes 127.0.0.1:3000:3000')

      const grace = shutdownGraceMs()
      t.ok(api.stop_grace_period, 'sets stop_grace_period')
      t.ok(
        durationMs(api.stop_grace_period ?? '0s') > grace,
        `stop_grace_period ${api.stop_grace_period} exceeds the server's ${grace} ms drain, so Docker does not kill it mid-drain`,
      )
    })

    t.test('published ports bound to loopback', async (t) => {
      for (const [name, service] of Object.entries(services)) {
        for (const port of (service.ports ?? []).map(publishedPort)) {
          t.equal(port.hostIp, '127.0.0.1', `${name} publishes ${port.published} on 127.0.0.1 only`)
        }
      }
    })

    t.test('service environment', async (t) => {
      t.same(init.environment, api.environment, 'init and api share one environment')
      const env = api.environment as Record<string, string>
      t.equal(env.LOCAL_AUTH_SECRET, TEST_SECRET, 'LOCAL_AUTH_SECRET comes from the env file')
      t.equal(env.LOG_LEVEL, 'info', 'LOG_LEVEL defaults to info')
      t.equal(env.STORE, 'dynamodb', 'STORE=dynamodb')
      t.equal(env.AUTH_MODE, 'local', 'AUTH_MODE=local')
      t.not(env.NODE_ENV, 'production', 'NODE_ENV is not production, which rejects local auth')
      t.ok(env.AWS_REGION, 'AWS_REGION is set')
      t.match(env.AWS_ACCESS_KEY_ID, /^[A-Za-z0-9]+$/, 'access key id has only letters and digits, as DynamoDB Local requires')
      t.ok(env.AWS_SECRET_ACCESS_KEY, 'AWS_SECRET_ACCESS_KEY is set')

      const endpoint = new URL(env.DYNAMODB_ENDPOINT ?? 'invalid:')
      t.equal(endpoint.hostname, 'dynamodb', 'DYNAMODB_ENDPOINT names the dynamodb service')
      t.equal(endpoint.port, '8000', 'DYNAMODB_ENDPOINT uses DynamoDB Local port 8000')

      for (const [name, service] of Object.entries(services)) {
        t.not(service.environment?.NODE_ENV, 'production', `${name} does not set NODE_ENV=production`)
      }
    })

    t.test('service accepts the container environment', async (t) => {
      const env = containerEnvironment(api)
      const config = loadConfig(env)
      t.equal(config.host, '0.0.0.0', 'listens on all interfaces inside the container')
      t.equal(String(config.port), publishedPort(api.ports?.[0]).target, 'listens on the published container port')
      t.same(
        config.store,
        { kind: 'dynamodb', endpoint: env.DYNAMODB_ENDPOINT, region: env.AWS_REGION },
        'uses DynamoDB Local',
      )
      t.equal(config.auth.mode, 'local', 'uses local auth')
      t.doesNotThrow(() => loadConfig(containerEnvironment(init)), 'init environment is valid too')
    })
  })
}
