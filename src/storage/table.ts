/**
 * The notes table: the one definition of its keys and indexes. Table
 * creation, the tests and the deployment stack all read it from here, so
 * this module imports nothing from the AWS SDK.
 */

export const PARTITION_KEY = 'userId'
export const SORT_KEY = 'noteId'

/** Local secondary index on (userId, seq): the change feed read by a pull. */
export const SEQ_INDEX = 'bySeq'
export const SEQ_ATTRIBUTE = 'seq'

/** Local secondary index on (userId, updated): the timestamp form of a pull. */
export const UPDATED_INDEX = 'byUpdated'
export const UPDATED_ATTRIBUTE = 'updated'

/** Attribute that DynamoDB TTL reads (epoch seconds), set on tombstones only. */
export const TTL_ATTRIBUTE = 'expiresAt'

/**
 * Sort key of the per-user sync-state item. A valid noteId never contains
 * `#`, and the item has no `seq` or `updated`, so it stays out of both
 * indexes.
 */
export const SYNC_STATE_SORT_KEY = '#sync'

export type AttributeType = 'S' | 'N'

export interface KeyAttribute {
  readonly name: string
  readonly type: AttributeType
}

export interface LocalIndexDefinition {
  readonly name: string
  readonly sortKey: KeyAttribute
}

export interface TableDefinition {
  readonly partitionKey: KeyAttribute
  readonly sortKey: KeyAttribute
  readonly localIndexes: readonly LocalIndexDefinition[]
  readonly ttlAttribute: string
}

export const NOTES_TABLE: TableDefinition = {
  partitionKey: { name: PARTITION_KEY, type: 'S' },
  sortKey: { name: SORT_KEY, type: 'S' },
  localIndexes: [
    { name: SEQ_INDEX, sortKey: { name: SEQ_ATTRIBUTE, type: 'N' } },
    { name: UPDATED_INDEX, sortKey: { name: UPDATED_ATTRIBUTE, type: 'N' } },
  ],
  ttlAttribute: TTL_ATTRIBUTE,
}
