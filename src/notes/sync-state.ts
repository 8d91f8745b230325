/**
 * The per-user sync-state item: `last`, the last sequence number issued, and
 * one pair of top-level attributes per write in flight, named after a random
 * token of that write. Top-level attributes, unlike entries of a nested map,
 * can be set by the first write of a user, before any map exists.
 */

const INTENT_SEQ_PREFIX = 'intentSeq_'
const INTENT_STARTED_PREFIX = 'intentAt_'

export function intentAttributes (token: string) {
  return { seq: INTENT_SEQ_PREFIX + token, startedAt: INTENT_STARTED_PREFIX + token }
}

interface Intent {
  token: string
  seq: number
  startedAt: number
}

function listIntents (state: Record<string, unknown> | undefined): Intent[] {
  const intents: Intent[] = []
  if (state === undefined) return intents
  for (const [name, seq] of Object.entries(state)) {
    if (!name.startsWith(INTENT_SEQ_PREFIX) || typeof seq !== 'number') continue
    const token = name.slice(INTENT_SEQ_PREFIX.length)
    const startedAt = state[INTENT_STARTED_PREFIX + token]
    // A missing start time cannot age out, so treat it as abandoned.
    intents.push({ token, seq, startedAt: typeof startedAt === 'number' ? startedAt : 0 })
  }
  return intents
}

/**
 * Return the stable horizon: one below the oldest intent that started at or
 * after `staleBefore`, or `last` when no such intent exists. Every change up
 * to the horizon is stored or will never exist.
 */
export function computeHorizon (
  state: Record<string, unknown> | undefined,
  last: number,
  staleBefore: number,
): number {
  let horizon = last
  for (const intent of listIntents(state)) {
    if (intent.startedAt >= staleBefore && intent.seq - 1 < horizon) horizon = intent.seq - 1
  }
  return horizon
}

/**
 * Most abandoned intents one write clears, which keeps its REMOVE expression
 * far below DynamoDB's 4 KB expression limit. Later writes clear the rest.
 */
export const MAX_CLEARED_PER_WRITE = 20

/** List the tokens of up to MAX_CLEARED_PER_WRITE intents that started before `staleBefore`. */
export function staleIntentTokens (state: Record<string, unknown>, staleBefore: number): string[] {
  return listIntents(state)
    .filter((intent) => intent.startedAt < staleBefore)
    .slice(0, MAX_CLEARED_PER_WRITE)
    .map((intent) => intent.token)
}
