import { RemovalPolicy } from 'aws-cdk-lib'
import { AttributeType, BillingMode, ProjectionType, Table, type Attribute } from 'aws-cdk-lib/aws-dynamodb'
import type { Construct } from 'constructs'
import {
  NOTES_TABLE,
  type AttributeType as KeyAttributeType,
  type KeyAttribute,
} from '../../src/storage/table.js'

const ATTRIBUTE_TYPES: Record<KeyAttributeType, AttributeType> = {
  S: AttributeType.STRING,
  N: AttributeType.NUMBER,
}

function toAttribute (key: KeyAttribute): Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPES[key.type] }
}

/**
 * Creates the notes table from the definition in src/storage/table.ts, so the
 * keys, local secondary indexes and TTL attribute match what the service and
 * its tests use.
 *
 * The table keeps user data, so it is protected twice: deletion protection
 * rejects a DeleteTable call, and RETAIN keeps the table when the stack is
 * deleted or the resource is replaced.
 */
export function createNotesTable (scope: Construct, id: string): Table {
  const table = new Table(scope, id, {
    partitionKey: toAttribute(NOTES_TABLE.partitionKey),
    sortKey: toAttribute(NOTES_TABLE.sortKey),
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: NOTES_TABLE.ttlAttribute,
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
  })

  for (const index of NOTES_TABLE.localIndexes) {
    table.addLocalSecondaryIndex({
      indexName: index.name,
      sortKey: toAttribute(index.sortKey),
      projectionType: ProjectionType.ALL,
    })
  }

  return table
}
