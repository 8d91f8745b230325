import { DescribeTableCommand, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { createDynamoClients, isLocalEndpoint, type DynamoClients } from './client.js'
import { ensureTable } from './create-table.js'
import { startEmbeddedStore, type EmbeddedStore } from './embedded.js'

export interface Store extends DynamoClients {
  readonly tableName: string
  /** Return true when the table can be described. Logs the failure to `log` and catches every error. */
  isReachable (log: FastifyBaseLogger): Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

export interface StorePluginOptions {
  config: Config
  /** Extra DynamoDB client settings; tests add middleware that injects faults. */
  clientOverrides?: Partial<DynamoDBClientConfig> | undefined
}

async function storePlugin (app: FastifyInstance, { config, clientOverrides }: StorePluginOptions) {
  let embedded: EmbeddedStore | undefined
  let clients: DynamoClients

  if (config.store.kind === 'embedded') {
    embedded = await startEmbeddedStore(config.store.dataDir)
    clients = createDynamoClients({
      endpoint: embedded.endpoint,
      region: config.store.region,
      localCredentials: true,
      overrides: clientOverrides,
    })
    try {
      await ensureTable(clients.client, config.tableName)
    } catch (err) {
      clients.client.destroy()
      await embedded.close()
      throw err
    }
    app.log.warn(
      { endpoint: embedded.endpoint, dataDir: config.store.dataDir ?? 'in memory', table: config.tableName },
      'embedded dynalite store started; it is a development store, not for production data',
    )
  } else {
    const { endpoint, region } = config.store
    clients = createDynamoClients({
      endpoint,
      region,
      localCredentials: endpoint !== undefined && isLocalEndpoint(endpoint),
      overrides: clientOverrides,
    })
  }

  const { client } = clients
  app.decorate('store', {
    ...clients,
    tableName: config.tableName,
    async isReachable (log) {
      try {
        await client.send(new DescribeTableCommand({ TableName: config.tableName }))
        return true
      } catch (err) {
        // Load balancers probe every few seconds, so log the error without its stack.
        const { name, message } = err as Error
        log.warn({ error: { name, message }, table: config.tableName }, 'readiness check failed: table not reachable')
        return false
      }
    },
  })

  app.addHook('onClose', async () => {
    client.destroy()
    if (embedded !== undefined) {
      await embedded.close()
      app.log.info('embedded store stopped')
    }
  })
}

export default fp(storePlugin, { name: 'store', fastify: '5.x' })
