/**
 * Create the notes table at the configured endpoint unless it exists, and
 * wait until it is ACTIVE. Reads the same environment as the server.
 */
import { ConfigError, loadConfig } from '../config.js'
import { createDynamoClients, isLocalEndpoint } from '../storage/client.js'
import { ensureTable } from '../storage/create-table.js'

async function main (): Promise<number> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    return 1
  }
  if (config.store.kind !== 'dynamodb') {
    process.stderr.write('STORE=embedded creates its table when the server starts; set STORE=dynamodb ' +
      'and DYNAMODB_ENDPOINT (or AWS credentials) to create a table elsewhere.\n')
    return 1
  }

  const { endpoint, region } = config.store
  const { client } = createDynamoClients({
    endpoint,
    region,
    localCredentials: endpoint !== undefined && isLocalEndpoint(endpoint),
  })
  try {
    const created = await ensureTable(client, config.tableName)
    process.stdout.write(`Table "${config.tableName}" ${created ? 'created' : 'already exists'} and is ACTIVE.\n`)
    return 0
  } catch (err) {
    process.stderr.write(`Creating table "${config.tableName}" at ${endpoint ?? 'AWS'} failed: ${(err as Error).message}\n`)
    return 1
  } finally {
    client.destroy()
  }
}

process.exitCode = await main()
