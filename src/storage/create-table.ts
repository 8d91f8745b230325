import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb'
import { NOTES_TABLE, type TableDefinition } from './table.js'

/** Build the CreateTable request for a table definition (on-demand billing). */
export function createTableInput (
  tableName: string,
  definition: TableDefinition = NOTES_TABLE,
): CreateTableCommandInput {
  const keyAttributes = [
    definition.partitionKey,
    definition.sortKey,
    ...definition.localIndexes.map((index) => index.sortKey),
  ]
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: keyAttributes.map((attribute) => ({
      AttributeName: attribute.name,
      AttributeType: attribute.type,
    })),
    KeySchema: [
      { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: definition.sortKey.name, KeyType: 'RANGE' },
    ],
    LocalSecondaryIndexes: definition.localIndexes.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: index.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  }
}

export interface EnsureTableOptions {
  /** Maximum time to wait for the table to become ACTIVE, in milliseconds. */
  timeoutMs?: number
  /** Delay between DescribeTable calls while waiting, in milliseconds. */
  pollMs?: number
}

/**
 * Create the notes table unless it exists, then wait until it is ACTIVE.
 * Safe to run again and from several processes at once. Returns true when
 * this call created the table.
 */
export async function ensureTable (
  client: DynamoDBClient,
  tableName: string,
  options: EnsureTableOptions = {},
): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const pollMs = options.pollMs ?? 250
  let created = false

  if (!(await tableExists(client, tableName))) {
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)))
      created = true
    } catch (err) {
      // Another process created it between our check and our request.
      if (!(err instanceof ResourceInUseException)) throw err
    }
  }

  const deadline = Date.now() + timeoutMs
  for (;;) {
    const status = await tableStatus(client, tableName)
    if (status === 'ACTIVE') return created
    if (Date.now() >= deadline) {
      throw new Error(
        `Table "${tableName}" is still ${status ?? 'missing'} after ` +
        `${timeoutMs} ms; check the table in the DynamoDB console and retry.`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}

async function tableExists (client: DynamoDBClient, tableName: string) {
  return (await tableStatus(client, tableName)) !== undefined
}

async function tableStatus (client: DynamoDBClient, tableName: string) {
  try {
    const output = await client.send(
      new DescribeTableCommand({ TableName: tableName }),
    )
    return output.Table?.TableStatus
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined
    throw err
  }
}
