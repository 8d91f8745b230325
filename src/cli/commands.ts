import { parseArgs } from 'node:util'
import { resolveLocalSecret } from '../auth/local-secret.js'
import { signLocalToken } from '../auth/local-tokens.js'
import { ConfigError, describeStore, loadConfig, type Config } from '../config.js'
import { createDynamoClients, isLocalEndpoint } from '../storage/client.js'
import { ensureTable } from '../storage/create-table.js'

/** Output streams of a command; the entry scripts pass process.stdout and process.stderr. */
export interface CommandOutput {
  out (text: string): void
  err (text: string): void
}

export type Environment = Record<string, string | undefined>

export const TOKEN_USAGE = 'Usage: npm run token -- <userId> [--expires-in <seconds>]\n'
const DEFAULT_EXPIRES_IN_SECONDS = 3600

function loadConfigOrReport (env: Environment, output: CommandOutput, requireAuth = true): Config | undefined {
  try {
    return loadConfig(env, { requireAuth })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    output.err(`${err.message}\n`)
    return undefined
  }
}

/**
 * Print a development token for AUTH_MODE=local, signed with
 * LOCAL_AUTH_SECRET or with the secret the embedded server keeps in
 * DATA_DIR. Returns the exit code: 2 for invalid arguments, 1 for settings.
 */
export async function tokenCommand (args: string[], env: Environment, output: CommandOutput): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { 'expires-in': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    output.err(`${(err as Error).message}\n${TOKEN_USAGE}`)
    return 2
  }
  if (parsed.values.help === true) {
    output.out(TOKEN_USAGE)
    return 0
  }

  const [userId, ...rest] = parsed.positionals
  if (userId === undefined || userId === '' || rest.length > 0 || userId.length > 256) {
    output.err(`Expected exactly one userId of 1 to 256 characters.\n${TOKEN_USAGE}`)
    return 2
  }
  const expiresText = parsed.values['expires-in'] ?? String(DEFAULT_EXPIRES_IN_SECONDS)
  const expiresIn = Number(expiresText)
  if (!/^[0-9]+$/.test(expiresText) || !Number.isSafeInteger(expiresIn) || expiresIn < 1) {
    output.err(`--expires-in "${expiresText}" is invalid; expected a whole number of seconds, at least 1.\n`)
    return 2
  }

  const config = loadConfigOrReport(env, output)
  if (config === undefined) return 1
  if (config.auth.mode !== 'local') {
    output.err('AUTH_MODE=cognito: get a token from the Cognito user pool; this command signs AUTH_MODE=local tokens only.\n')
    return 1
  }

  const token = await signLocalToken(await resolveLocalSecret(config), userId, expiresIn)
  output.out(`${token}\n`)
  return 0
}

/**
 * Create the notes table at the configured endpoint unless it exists, and
 * wait until it is ACTIVE. Returns the exit code.
 */
export async function createTableCommand (env: Environment, output: CommandOutput): Promise<number> {
  const config = loadConfigOrReport(env, output, false)
  if (config === undefined) return 1
  if (config.store.kind !== 'dynamodb') {
    output.err('STORE=embedded creates its table when the server starts; set STORE=dynamodb ' +
      'and DYNAMODB_ENDPOINT (or AWS credentials) to create a table elsewhere.\n')
    return 1
  }

  const { endpoint, region } = config.store
  const { client } = createDynamoClients({
    endpoint,
    region,
    localCredentials: endpoint !== undefined && isLocalEndpoint(endpoint),
  })
  let code = 0
  try {
    const created = await ensureTable(client, config.tableName)
    output.out(`Table "${config.tableName}" ${created ? 'created' : 'already exists'} and is ACTIVE.\n`)
  } catch (err) {
    output.err(`Creating table "${config.tableName}" at ${describeStore(config.store)} failed: ${(err as Error).message}\n`)
    code = 1
  }
  client.destroy()
  return code
}

/** Output that writes to the process's own streams. */
export const processOutput: CommandOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}
