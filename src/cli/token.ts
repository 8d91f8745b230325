/**
 * Print a development token for AUTH_MODE=local:
 *   npm run token -- <userId> [--expires-in <seconds>]
 * It signs with LOCAL_AUTH_SECRET, or with the secret the embedded server
 * keeps in DATA_DIR, so it reads the same environment as the server.
 */
import { parseArgs } from 'node:util'
import { resolveLocalSecret } from '../auth/local-secret.js'
import { signLocalToken } from '../auth/local-tokens.js'
import { ConfigError, loadConfig } from '../config.js'

const USAGE = 'Usage: npm run token -- <userId> [--expires-in <seconds>]\n'
const DEFAULT_EXPIRES_IN_SECONDS = 3600

async function main (): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { 'expires-in': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (parsed.values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }

  const [userId, ...rest] = parsed.positionals
  if (userId === undefined || rest.length > 0 || userId.length === 0 || userId.length > 256) {
    process.stderr.write(`Expected exactly one userId of 1 to 256 characters.\n${USAGE}`)
    return 2
  }
  const expiresText = parsed.values['expires-in'] ?? String(DEFAULT_EXPIRES_IN_SECONDS)
  const expiresIn = Number(expiresText)
  if (!Number.isSafeInteger(expiresIn) || expiresIn < 1) {
    process.stderr.write(`--expires-in "${expiresText}" is invalid; expected a whole number of seconds.\n`)
    return 2
  }

  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    return 1
  }
  if (config.auth.mode !== 'local') {
    process.stderr.write('AUTH_MODE=cognito: get a token from the Cognito user pool; this command signs AUTH_MODE=local tokens only.\n')
    return 1
  }

  const token = await signLocalToken(await resolveLocalSecret(config), userId, expiresIn)
  process.stdout.write(`${token}\n`)
  return 0
}

process.exitCode = await main()
