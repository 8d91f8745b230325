import { Type, type Static, type TSchema } from 'typebox'
import { Value } from 'typebox/value'

/** DATA_DIR value that keeps the embedded store in memory. */
export const IN_MEMORY = ':memory:'

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

function oneOf<const T extends readonly string[]> (values: T, options: object = {}) {
  return Type.Union(values.map((value) => Type.Literal(value)), {
    ...options,
    accepted: `one of ${values.join(', ')}`,
  })
}

/**
 * Every environment variable the service reads. `accepted` is the text shown
 * when a value is invalid.
 */
const EnvSchema = Type.Object({
  NODE_ENV: oneOf(['development', 'production', 'test'], { default: 'development' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1', accepted: 'a host name or IP address' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000, accepted: 'an integer from 0 to 65535' }),
  LOG_LEVEL: oneOf(LOG_LEVELS, { default: 'info' }),
  NOTES_TABLE: Type.String({
    pattern: '^[A-Za-z0-9_.-]{3,255}$',
    default: 'notes',
    accepted: '3 to 255 letters, digits, "_", "-" or "."',
  }),
  STORE: Type.Optional(oneOf(['embedded', 'dynamodb'])),
  DATA_DIR: Type.String({ minLength: 1, default: '.data', accepted: `a folder path, or ${IN_MEMORY}` }),
  DYNAMODB_ENDPOINT: Type.Optional(Type.String({
    pattern: '^https?://[^\\s]+$',
    accepted: 'an http:// or https:// URL',
  })),
  AWS_REGION: Type.Optional(Type.String({
    pattern: '^[a-z]{2}(-[a-z]+)+-\\d+$',
    accepted: 'an AWS region name such as eu-west-1',
  })),
  AUTH_MODE: Type.Optional(oneOf(['cognito', 'local'])),
  COGNITO_USER_POOL_ID: Type.Optional(Type.String({
    pattern: '^[a-z]{2}(-[a-z]+)+-\\d+_[0-9A-Za-z]+$',
    accepted: 'a user pool id such as eu-west-1_AbC123xyz',
  })),
  COGNITO_CLIENT_ID: Type.Optional(Type.String({
    pattern: '^[0-9A-Za-z]+$',
    accepted: 'an app client id (letters and digits)',
  })),
  COGNITO_TOKEN_USE: oneOf(['access', 'id'], { default: 'access' }),
  LOCAL_AUTH_SECRET: Type.Optional(Type.String({
    minLength: 32,
    accepted: 'a random string of at least 32 characters',
  })),
  RATE_LIMIT_MAX: Type.Integer({
    minimum: 1,
    maximum: 1_000_000,
    default: 300,
    accepted: 'an integer from 1 to 1000000 (requests per user per window)',
  }),
  RATE_LIMIT_WINDOW_SECONDS: Type.Integer({
    minimum: 1,
    maximum: 86_400,
    default: 60,
    accepted: 'an integer from 1 to 86400 (seconds)',
  }),
  CORS_ORIGINS: Type.Optional(Type.String({
    pattern: '^https?://[^\\s,/]+(,https?://[^\\s,/]+)*$',
    accepted: 'a comma-separated list of origins such as https://app.example.com,http://localhost:5173',
  })),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({
    minimum: 0,
    maximum: 60_000,
    default: 1000,
    accepted: 'an integer from 0 (no load shedding) to 60000 (milliseconds)',
  }),
  REQUEST_TIMEOUT_MS: Type.Integer({
    minimum: 1000,
    maximum: 600_000,
    default: 30_000,
    accepted: 'an integer from 1000 to 600000 (milliseconds)',
  }),
})

type Env = Static<typeof EnvSchema>

/** Names of every environment variable the service reads. */
export const ENVIRONMENT_VARIABLES = Object.freeze(Object.keys(EnvSchema.properties))

export type LogLevel = (typeof LOG_LEVELS)[number]

export type StoreConfig =
  | { kind: 'embedded', dataDir: string | null, region: string }
  | { kind: 'dynamodb', endpoint: string | undefined, region: string | undefined }

export type AuthConfig =
  | { mode: 'cognito', userPoolId: string, clientId: string, tokenUse: 'access' | 'id' }
  | { mode: 'local', secret: string | undefined }

export interface Config {
  readonly nodeEnv: Env['NODE_ENV']
  readonly host: string
  readonly port: number
  readonly logLevel: LogLevel
  readonly tableName: string
  readonly store: StoreConfig
  readonly auth: AuthConfig
  readonly limits: LimitsConfig
}

export interface LimitsConfig {
  /** Requests one user may make to /notes per window. */
  readonly rateLimitMax: number
  readonly rateLimitWindowMs: number
  /** Origins allowed to call the API from a browser; empty disables CORS. */
  readonly corsOrigins: readonly string[]
  /** Event loop delay above which requests are shed with 503; 0 disables shedding. */
  readonly maxEventLoopDelayMs: number
  /** Time a client has to send a whole request, in milliseconds. */
  readonly requestTimeoutMs: number
}

/** Startup configuration error: lists every invalid variable at once. */
export class ConfigError extends Error {
  readonly problems: string[]

  constructor (problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** Name the store a config targets, for logs and messages. */
export function describeStore (store: StoreConfig): string {
  if (store.kind === 'embedded') return 'the embedded store'
  return store.endpoint ?? 'AWS'
}

/** Region used for local endpoints, which accept any region name. */
const LOCAL_REGION = 'us-east-1'

/**
 * Validate the environment once and return a frozen config. Throws a
 * ConfigError naming each invalid variable and its accepted values.
 * `requireAuth: false` skips the checks that only serving requests needs,
 * for commands such as create-table.
 */
export function loadConfig (
  environment: Record<string, string | undefined>,
  options: { requireAuth?: boolean } = {},
): Config {
  const env = parseEnv(environment)
  const production = env.NODE_ENV === 'production'
  const requireAuth = options.requireAuth ?? true
  const problems: string[] = []

  const storeKind = env.STORE ?? (env.DYNAMODB_ENDPOINT !== undefined || production ? 'dynamodb' : 'embedded')
  const authMode = env.AUTH_MODE ?? (production ? 'cognito' : 'local')

  if (production && storeKind === 'embedded') {
    problems.push('STORE=embedded is a development store and is rejected when NODE_ENV=production; set STORE=dynamodb.')
  }
  if (requireAuth && production && authMode === 'local') {
    problems.push('AUTH_MODE=local is rejected when NODE_ENV=production; set AUTH_MODE=cognito with COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID.')
  }
  if (storeKind === 'embedded' && env.DYNAMODB_ENDPOINT !== undefined) {
    problems.push('DYNAMODB_ENDPOINT is set but STORE=embedded ignores it; set STORE=dynamodb or remove DYNAMODB_ENDPOINT.')
  }
  if (requireAuth && authMode === 'cognito') {
    for (const name of ['COGNITO_USER_POOL_ID', 'COGNITO_CLIENT_ID'] as const) {
      if (env[name] === undefined) problems.push(`${name} is missing; AUTH_MODE=cognito requires it.`)
    }
  }
  const dataDir = env.DATA_DIR === IN_MEMORY ? null : env.DATA_DIR
  if (requireAuth && authMode === 'local' && env.LOCAL_AUTH_SECRET === undefined && (storeKind !== 'embedded' || dataDir === null)) {
    problems.push(
      'LOCAL_AUTH_SECRET is missing; AUTH_MODE=local generates and keeps one only for an embedded store ' +
      `on disk, so set it (for example with: openssl rand -hex 32) or use STORE=embedded with DATA_DIR other than ${IN_MEMORY}.`,
    )
  }
  if (problems.length > 0) throw new ConfigError(problems)

  const store: StoreConfig = storeKind === 'embedded'
    ? { kind: 'embedded', dataDir, region: env.AWS_REGION ?? LOCAL_REGION }
    : {
        kind: 'dynamodb',
        endpoint: env.DYNAMODB_ENDPOINT,
        region: env.AWS_REGION ?? (env.DYNAMODB_ENDPOINT === undefined ? undefined : LOCAL_REGION),
      }
  const auth: AuthConfig = authMode === 'cognito'
    ? {
        mode: 'cognito',
        userPoolId: env.COGNITO_USER_POOL_ID as string,
        clientId: env.COGNITO_CLIENT_ID as string,
        tokenUse: env.COGNITO_TOKEN_USE,
      }
    : { mode: 'local', secret: env.LOCAL_AUTH_SECRET }

  return Object.freeze({
    nodeEnv: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    tableName: env.NOTES_TABLE,
    store: Object.freeze(store),
    auth: Object.freeze(auth),
    limits: Object.freeze({
      rateLimitMax: env.RATE_LIMIT_MAX,
      rateLimitWindowMs: env.RATE_LIMIT_WINDOW_SECONDS * 1000,
      corsOrigins: Object.freeze(env.CORS_ORIGINS?.split(',') ?? []),
      maxEventLoopDelayMs: env.MAX_EVENT_LOOP_DELAY_MS,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    }),
  })
}

function parseEnv (environment: Record<string, string | undefined>): Env {
  const input: Record<string, string> = {}
  for (const name of ENVIRONMENT_VARIABLES) {
    const value = environment[name]
    // An empty variable (NAME= in an env file) counts as not set.
    if (value !== undefined && value !== '') input[name] = value
  }

  // Every variable's schema has an `accepted` text.
  const schemas = EnvSchema.properties as unknown as Record<string, TSchema & { accepted: string, type?: string }>
  const problems = new Set<string>()
  const invalid = (name: string) =>
    `${name}="${input[name]}" is invalid; expected ${schemas[name]!.accepted}.`

  // Value.Convert would read "3001.5", "0x0BB9" or "3e3" as numbers, so
  // integers must be plain decimal digits before conversion.
  for (const [name, text] of Object.entries(input)) {
    if (schemas[name]?.type === 'integer' && !/^[0-9]{1,15}$/.test(text)) problems.add(invalid(name))
  }

  const value = Value.Convert(EnvSchema, Value.Default(EnvSchema, input))
  if (problems.size === 0 && Value.Check(EnvSchema, value)) return value as Env

  for (const error of Value.Errors(EnvSchema, value)) {
    const name = error.instancePath.split('/')[1]
    if (name !== undefined) problems.add(invalid(name))
  }
  throw new ConfigError([...problems])
}
