import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, describeStore, loadConfig } from './config.js'

/** Time allowed for in-flight requests to finish after SIGTERM, in milliseconds. */
export const SHUTDOWN_GRACE_MS = 10_000

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exitCode = 1
    return
  }

  const app = await buildApp(config)

  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'stopping after an uncaught error')
    else app.log.info({ signal }, 'stopping: finishing in-flight requests')
    await app.close()
    app.log.info('stopped')
  })

  const address = await app.listen({ host: config.host, port: config.port })
  app.log.info({
    address,
    store: config.store.kind,
    endpoint: describeStore(config.store),
    table: config.tableName,
    authMode: config.auth.mode,
    development: config.store.kind === 'embedded' || config.auth.mode === 'local',
  }, 'notes-sync started')
}

await main()
