/** DynamoDB's maximum item size: 400 KB, counted in UTF-8 bytes of names and values. */
export const MAX_ITEM_BYTES = 400 * 1024

/** Upper bound DynamoDB charges for one number: 38 digits take at most 21 bytes. */
const MAX_NUMBER_BYTES = 21

export type ItemValue = string | number | boolean

/**
 * Compute an upper bound of an item's size as DynamoDB counts it: the UTF-8
 * length of each attribute name plus its value, with every number counted at
 * its maximum. Rejecting by this bound never lets an oversize item reach
 * DynamoDB, and costs a note at most a few dozen bytes of headroom.
 */
export function itemSizeUpperBound (item: Record<string, ItemValue>): number {
  let bytes = 0
  for (const [name, value] of Object.entries(item)) {
    bytes += Buffer.byteLength(name, 'utf8')
    if (typeof value === 'string') bytes += Buffer.byteLength(value, 'utf8')
    else if (typeof value === 'number') bytes += MAX_NUMBER_BYTES
    else bytes += 1
  }
  return bytes
}
