import t from 'tap'
import { computeHorizon, intentAttributes, staleIntentTokens } from '../../src/notes/sync-state.js'

interface IntentSpec {
  token: string
  seq: number
  /** Epoch milliseconds; leave it out for an intent without a start time. */
  startedAt?: number
}

/** Build a sync-state item with `last` and the given intents, as the repository stores them. */
function syncState (last: number, ...intents: IntentSpec[]): Record<string, unknown> {
  const state: Record<string, unknown> = { userId: 'alice', noteId: '#sync', last }
  for (const intent of intents) {
    const names = intentAttributes(intent.token)
    state[names.seq] = intent.seq
    if (intent.startedAt !== undefined) state[names.startedAt] = intent.startedAt
  }
  return state
}

const NOW = 1_700_000_000_000
const STALE_BEFORE = NOW - 60_000

t.test('intent attribute names are stable', async (t) => {
  // Servers of two releases share a table during a deploy, so a renamed
  // attribute would hide the other release's intents.
  t.same(intentAttributes('abc123'), { seq: 'intentSeq_abc123', startedAt: 'intentAt_abc123' })
  t.not(intentAttributes('a').seq, intentAttributes('b').seq)
})

t.test('horizon without intents is last', async (t) => {
  t.equal(computeHorizon(undefined, 0, STALE_BEFORE), 0, 'no sync-state item')
  t.equal(computeHorizon(syncState(7), 7, STALE_BEFORE), 7, 'no intents')
})

t.test('live intent lowers the horizon', async (t) => {
  const state = syncState(7, { token: 'a', seq: 5, startedAt: NOW })

  t.equal(computeHorizon(state, 7, STALE_BEFORE), 4)
})

t.test('oldest live intent sets the horizon', async (t) => {
  const intents = [
    { token: 'a', seq: 6, startedAt: NOW },
    { token: 'b', seq: 3, startedAt: NOW - 1_000 },
    { token: 'c', seq: 7, startedAt: NOW },
  ]

  t.equal(computeHorizon(syncState(7, ...intents), 7, STALE_BEFORE), 2)
  t.equal(computeHorizon(syncState(7, ...[...intents].reverse()), 7, STALE_BEFORE), 2, 'attribute order does not matter')
})

t.test('intent of seq 1 gives 0', async (t) => {
  const state = syncState(1, { token: 'a', seq: 1, startedAt: NOW })

  t.equal(computeHorizon(state, 1, STALE_BEFORE), 0)
})

t.test('stale intent is ignored', async (t) => {
  const stale = syncState(7, { token: 'a', seq: 5, startedAt: STALE_BEFORE - 1 })
  const boundary = syncState(7, { token: 'a', seq: 5, startedAt: STALE_BEFORE })
  const mixed = syncState(7, { token: 'a', seq: 2, startedAt: STALE_BEFORE - 1 }, { token: 'b', seq: 6, startedAt: NOW })

  t.equal(computeHorizon(stale, 7, STALE_BEFORE), 7)
  t.equal(computeHorizon(boundary, 7, STALE_BEFORE), 4, 'an intent started exactly at staleBefore is live')
  t.equal(computeHorizon(mixed, 7, STALE_BEFORE), 5, 'only the live intent holds')
})

t.test('intent without start time is stale', async (t) => {
  const state = syncState(7, { token: 'a', seq: 5 })

  t.equal(computeHorizon(state, 7, STALE_BEFORE), 7)
  t.same(staleIntentTokens(state, STALE_BEFORE), ['a'])
})

t.test('non-intent attributes are ignored', async (t) => {
  const state = {
    ...syncState(7),
    [intentAttributes('text').seq]: '5',
    [intentAttributes('orphan').startedAt]: NOW,
    intentSeq: 3,
    title: 'intentSeq_',
  }

  t.equal(computeHorizon(state, 7, STALE_BEFORE), 7)
  t.same(staleIntentTokens(state, STALE_BEFORE), [])
})

t.test('stale intent tokens', async (t) => {
  const state = syncState(
    9,
    { token: 'old', seq: 2, startedAt: STALE_BEFORE - 1 },
    { token: 'boundary', seq: 3, startedAt: STALE_BEFORE },
    { token: 'live', seq: 4, startedAt: NOW },
    { token: 'unstarted', seq: 5 },
  )

  t.same(staleIntentTokens(state, STALE_BEFORE).sort(), ['old', 'unstarted'])
  t.same(staleIntentTokens(syncState(9), STALE_BEFORE), [], 'no intents')
})
