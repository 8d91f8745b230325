import { randomUUID } from 'node:crypto'
import {
  GetCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb'
import {
  InvalidRequestError,
  NoteTooLargeError,
  VersionConflictError,
} from '../errors.js'
import {
  PARTITION_KEY,
  SEQ_ATTRIBUTE,
  SEQ_INDEX,
  SORT_KEY,
  SYNC_STATE_SORT_KEY,
  TTL_ATTRIBUTE,
  UPDATED_ATTRIBUTE,
  UPDATED_INDEX,
} from '../storage/table.js'
import { isDefiniteRejection, toStoreUnavailable } from '../storage/store-errors.js'
import { MAX_ITEM_BYTES, itemSizeUpperBound } from './item-size.js'
import type { Note, NoteWrite } from './schemas.js'
import { computeHorizon, intentAttributes, staleIntentTokens } from './sync-state.js'

/** Logger methods the repository uses; request.log and pino both fit. */
export interface RepositoryLogger {
  info (object: object, message: string): void
  warn (object: object, message: string): void
}

export interface RepositoryOptions {
  /**
   * Time limit of a write, from reserving its sequence number to storing the
   * note, in milliseconds. Must be far below intentTimeoutMs.
   */
  writeDeadlineMs?: number
  /** Age after which an intent counts as abandoned, in milliseconds. */
  intentTimeoutMs?: number
  /** Clock in epoch milliseconds; tests shift it to simulate skewed servers. */
  now?: () => number
  /** How long a tombstone is kept before DynamoDB TTL may delete it, in seconds. */
  tombstoneTtlSeconds?: number
  /** Receives counts for metrics. */
  events?: RepositoryEvents
}

/** Counts the repository reports; the metrics plugin turns them into Prometheus counters. */
export interface RepositoryEvents {
  versionConflict (): void
  abandonedIntentsCleared (count: number): void
}

const IGNORED_EVENTS: RepositoryEvents = {
  versionConflict: () => {},
  abandonedIntentsCleared: () => {},
}

export interface PutResult {
  note: Note
  created: boolean
}

export interface ChangesPage {
  notes: Note[]
  /** Sequence number the next pull starts after. */
  position: number
  hasMore: boolean
}

export interface UpdatedPage {
  notes: Note[]
  /** Position of the last note returned, or undefined when none was. */
  position: { updated: number, noteId: string } | undefined
  hasMore: boolean
}

/** Placeholders of a note write; DynamoDB rejects a request that defines an unused one. */
const NOTE_WRITE_NAMES = {
  '#title': 'title',
  '#content': 'content',
  '#isDeleted': 'isDeleted',
  '#version': 'version',
  '#seq': SEQ_ATTRIBUTE,
  '#updated': UPDATED_ATTRIBUTE,
  '#createdAt': 'createdAt',
  '#expiresAt': TTL_ATTRIBUTE,
}

/** Number attributes of a stored note, which the size check counts at their maximum. */
const STORED_NUMBERS = ['version', SEQ_ATTRIBUTE, UPDATED_ATTRIBUTE, 'createdAt', TTL_ATTRIBUTE]

/**
 * Notes of all users in one DynamoDB table, with an exact change feed.
 *
 * A write reserves the user's next sequence number together with an intent
 * on the user's sync-state item, stores the note with that number, then
 * releases the intent. A pull reads only up to the stable horizon, one below
 * the oldest intent still in flight, so a client that has seen sequence
 * number n has seen every change up to n.
 */
export class NotesRepository {
  readonly #client: DynamoDBDocumentClient
  readonly #tableName: string
  readonly #writeDeadlineMs: number
  readonly #intentTimeoutMs: number
  readonly #tombstoneTtlSeconds: number
  readonly #now: () => number
  readonly #events: RepositoryEvents

  constructor (client: DynamoDBDocumentClient, tableName: string, options: RepositoryOptions = {}) {
    this.#client = client
    this.#tableName = tableName
    this.#writeDeadlineMs = options.writeDeadlineMs ?? 10_000
    this.#intentTimeoutMs = options.intentTimeoutMs ?? 60_000
    this.#tombstoneTtlSeconds = options.tombstoneTtlSeconds ?? 90 * 24 * 3600
    this.#now = options.now ?? Date.now
    this.#events = options.events ?? IGNORED_EVENTS
    if (this.#intentTimeoutMs < 3 * this.#writeDeadlineMs) {
      throw new RangeError('intentTimeoutMs must be at least three times writeDeadlineMs')
    }
  }

  /**
   * Create or replace a note. With `input.version`, the write applies only
   * if the stored note is at that version (0: only if it does not exist),
   * else VersionConflictError carries the stored note.
   */
  async put (userId: string, input: NoteWrite, log: RepositoryLogger): Promise<PutResult> {
    const now = this.#now()
    this.#checkSize(userId, input)

    const deadline = AbortSignal.timeout(this.#writeDeadlineMs)
    const token = randomUUID().replaceAll('-', '')
    const { seq, staleTokens } = await this.#reserve(userId, token, now, deadline)

    const attempts = { outcomeUnknown: false }
    let releaseIntent = true
    let result: PutResult
    try {
      result = await this.#writeNote(userId, input, seq, now, deadline, attempts, log)
    } catch (err) {
      if (attempts.outcomeUnknown || !(err instanceof VersionConflictError || isDefiniteRejection(err))) {
        // An attempt may still be applied after this error, even when the
        // SDK's last retry was rejected. Keeping the intent keeps pulls
        // below seq until the intent times out, so no reader can pass seq
        // before such a late write is visible.
        releaseIntent = false
        log.warn({ err, noteId: input.noteId, seq }, 'note write outcome unknown; intent kept until it times out')
      }
      throw toStoreUnavailable(err, 'write note') ?? err
    } finally {
      if (releaseIntent) await this.#release(userId, token, staleTokens, log)
    }
    return result
  }

  /** Read a page of the change feed after sequence number `afterSeq`. */
  async changesSince (userId: string, afterSeq: number, limit: number): Promise<ChangesPage> {
    const state = await this.#getItem(userId, SYNC_STATE_SORT_KEY)
    const last = typeof state?.last === 'number' ? state.last : 0
    if (afterSeq > last) {
      throw new InvalidRequestError(
        `Invalid cursor: it points at change ${afterSeq}, but this user's change feed ends at ${last}; ` +
        'discard the cursor and pull from the beginning.',
        'INVALID_CURSOR',
      )
    }

    const horizon = computeHorizon(state, last, this.#now() - this.#intentTimeoutMs)
    if (afterSeq >= horizon) return { notes: [], position: afterSeq, hasMore: false }

    const page = await this.#query({
      IndexName: SEQ_INDEX,
      KeyConditionExpression: '#userId = :userId AND #seq BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#userId': PARTITION_KEY, '#seq': SEQ_ATTRIBUTE },
      ExpressionAttributeValues: { ':userId': userId, ':from': afterSeq + 1, ':to': horizon },
    }, limit, 'read changes')

    const lastItem = page.items.at(-1)
    const position = page.hasMore && lastItem !== undefined ? (lastItem[SEQ_ATTRIBUTE] as number) : horizon
    return { notes: page.items.map(toNote), position, hasMore: page.hasMore }
  }

  /**
   * Read notes updated after a point in the (updated, noteId) order. This is
   * the timestamp form of a pull; it depends on server clocks and is exact
   * only while they agree.
   */
  async updatedSince (
    userId: string,
    after: { updated: number, noteId?: string | undefined },
    limit: number,
  ): Promise<UpdatedPage> {
    const input: Omit<QueryCommandInput, 'TableName'> = {
      IndexName: UPDATED_INDEX,
      KeyConditionExpression: after.noteId === undefined
        ? '#userId = :userId AND #updated > :updated'
        : '#userId = :userId AND #updated >= :updated',
      ExpressionAttributeNames: { '#userId': PARTITION_KEY, '#updated': UPDATED_ATTRIBUTE },
      ExpressionAttributeValues: { ':userId': userId, ':updated': after.updated },
    }
    if (after.noteId !== undefined) {
      input.ExclusiveStartKey = {
        [PARTITION_KEY]: userId,
        [SORT_KEY]: after.noteId,
        [UPDATED_ATTRIBUTE]: after.updated,
      }
    }

    const page = await this.#query(input, limit, 'read updated notes')
    const notes = page.items.map(toNote)
    const lastNote = notes.at(-1)
    const position = lastNote === undefined
      ? undefined
      : { updated: lastNote.updated, noteId: lastNote.noteId }
    return { notes, position, hasMore: page.hasMore }
  }

  /** Read one note with a strongly consistent read, or null. */
  async get (userId: string, noteId: string): Promise<Note | null> {
    const item = await this.#getItem(userId, noteId)
    return item === undefined ? null : toNote(item)
  }

  #checkSize (userId: string, input: NoteWrite): void {
    const item: Record<string, string | number | boolean> = {
      [PARTITION_KEY]: userId,
      [SORT_KEY]: input.noteId,
      title: input.title,
      content: input.content,
      isDeleted: input.isDeleted,
    }
    for (const name of STORED_NUMBERS) item[name] = 0
    const bytes = itemSizeUpperBound(item)
    if (bytes > MAX_ITEM_BYTES) throw new NoteTooLargeError(input.noteId, bytes, MAX_ITEM_BYTES)
  }

  async #reserve (userId: string, token: string, now: number, deadline: AbortSignal) {
    const intent = intentAttributes(token)
    try {
      const output = await this.#client.send(new UpdateCommand({
        TableName: this.#tableName,
        Key: { [PARTITION_KEY]: userId, [SORT_KEY]: SYNC_STATE_SORT_KEY },
        // Every right-hand side reads the item as it was before this update,
        // so the counter and the intent get the same new number atomically.
        UpdateExpression: 'SET #last = if_not_exists(#last, :zero) + :one, ' +
          '#intentSeq = if_not_exists(#last, :zero) + :one, #intentAt = :now',
        ExpressionAttributeNames: { '#last': 'last', '#intentSeq': intent.seq, '#intentAt': intent.startedAt },
        ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':now': now },
        ReturnValues: 'ALL_NEW',
      }), { abortSignal: deadline })
      // ReturnValues ALL_NEW always returns the updated item.
      const state = output.Attributes as Record<string, unknown>
      return {
        seq: state.last as number,
        staleTokens: staleIntentTokens(state, now - this.#intentTimeoutMs),
      }
    } catch (err) {
      throw toStoreUnavailable(err, 'reserve sequence number') ?? err
    }
  }

  /**
   * Store the note with sequence number `seq`. A write without a version
   * applies only over an older seq, so an SDK attempt that lands late can
   * never replace a newer write or move the note back in the change feed.
   * `attempts.outcomeUnknown` is set when any attempt failed in a way that
   * may still be applied.
   */
  async #writeNote (
    userId: string,
    input: NoteWrite,
    seq: number,
    now: number,
    deadline: AbortSignal,
    attempts: { outcomeUnknown: boolean },
    log: RepositoryLogger,
  ): Promise<PutResult> {
    const values: Record<string, unknown> = {
      ':title': input.title,
      ':content': input.content,
      ':isDeleted': input.isDeleted,
      ':zero': 0,
      ':one': 1,
      ':seq': seq,
      ':now': now,
    }
    let update = 'SET #title = :title, #content = :content, #isDeleted = :isDeleted, ' +
      '#version = if_not_exists(#version, :zero) + :one, #seq = :seq, #updated = :now, ' +
      '#createdAt = if_not_exists(#createdAt, :now)'
    if (input.isDeleted) {
      update += ', #expiresAt = :expiresAt'
      values[':expiresAt'] = Math.floor(now / 1000) + this.#tombstoneTtlSeconds
    } else {
      update += ' REMOVE #expiresAt'
    }

    let condition = 'attribute_not_exists(#seq) OR #seq < :seq'
    if (input.version === 0) {
      condition = 'attribute_not_exists(#noteId)'
    } else if (input.version !== undefined) {
      // Every write raises the version, so a late attempt of an older write fails this too.
      condition = '#version = :expected'
      values[':expected'] = input.version
    }

    const command = new UpdateCommand({
      TableName: this.#tableName,
      Key: { [PARTITION_KEY]: userId, [SORT_KEY]: input.noteId },
      UpdateExpression: update,
      ConditionExpression: condition,
      ExpressionAttributeNames: input.version === 0 ? { ...NOTE_WRITE_NAMES, '#noteId': SORT_KEY } : NOTE_WRITE_NAMES,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    })
    // The deserialize step runs once per attempt, inside the SDK's retries.
    // The middleware has no name: lib-dynamodb merges a command's stack into
    // the request twice, which a named middleware fails, while this one
    // then simply runs twice and sets the same flag.
    command.middlewareStack.add((next) => async (args) => {
      try {
        return await next(args)
      } catch (err) {
        if (!isDefiniteRejection(err)) attempts.outcomeUnknown = true
        throw err
      }
    }, { step: 'deserialize', priority: 'high' })

    try {
      const output = await this.#client.send(command, { abortSignal: deadline })
      const note = toNote(output.Attributes as Record<string, unknown>)
      return { note, created: note.version === 1 }
    } catch (err) {
      if ((err as Error)?.name !== 'ConditionalCheckFailedException') throw err
    }

    // The condition failed. DynamoDB Local and dynalite do not return the
    // stored item with the failure, so read it.
    const item = await this.#getItem(userId, input.noteId)
    const storedSeq = item?.[SEQ_ATTRIBUTE]
    if (item !== undefined && storedSeq === seq) {
      // No other write was given seq, so this is an SDK retry of a write
      // that had already been applied.
      log.info({ noteId: input.noteId, seq }, 'note write retried after it was applied')
      const note = toNote(item)
      return { note, created: note.version === 1 }
    }
    if (item !== undefined && input.version === undefined && typeof storedSeq === 'number' && storedSeq > seq) {
      // A write that started later was stored first. With the last write
      // winning, this write counts as applied and then replaced.
      log.info({ noteId: input.noteId, seq, storedSeq }, 'note write overtaken by a later write')
      return { note: toNote(item), created: false }
    }
    this.#events.versionConflict()
    throw new VersionConflictError(input.noteId, input.version ?? 0, item === undefined ? null : toNote(item))
  }

  async #release (userId: string, token: string, staleTokens: string[], log: RepositoryLogger) {
    const names: Record<string, string> = {}
    const removed = [token, ...staleTokens].flatMap((intentToken, index) => {
      const intent = intentAttributes(intentToken)
      names[`#s${index}`] = intent.seq
      names[`#a${index}`] = intent.startedAt
      return [`#s${index}`, `#a${index}`]
    })
    try {
      await this.#client.send(new UpdateCommand({
        TableName: this.#tableName,
        Key: { [PARTITION_KEY]: userId, [SORT_KEY]: SYNC_STATE_SORT_KEY },
        UpdateExpression: `REMOVE ${removed.join(', ')}`,
        ExpressionAttributeNames: names,
      }))
      if (staleTokens.length > 0) {
        this.#events.abandonedIntentsCleared(staleTokens.length)
        log.warn({ userId, abandonedIntents: staleTokens.length }, 'abandoned write intents cleared')
      }
    } catch (err) {
      // The note is stored; the intent will time out and stop holding pulls.
      log.warn({ err, userId }, 'write intent release failed; the intent blocks pulls until it times out')
    }
  }

  async #getItem (userId: string, sortKey: string): Promise<Record<string, unknown> | undefined> {
    try {
      const output = await this.#client.send(new GetCommand({
        TableName: this.#tableName,
        Key: { [PARTITION_KEY]: userId, [SORT_KEY]: sortKey },
        ConsistentRead: true,
      }))
      return output.Item
    } catch (err) {
      throw toStoreUnavailable(err, 'read item') ?? err
    }
  }

  /**
   * Run a consistent query for up to `limit` items. One extra item is read
   * so that hasMore is exact; a page cut at DynamoDB's 1 MB limit also
   * reports hasMore.
   */
  async #query (input: Omit<QueryCommandInput, 'TableName'>, limit: number, operation: string) {
    try {
      const output = await this.#client.send(new QueryCommand({
        ...input,
        TableName: this.#tableName,
        ConsistentRead: true,
        Limit: limit + 1,
      }))
      const items = output.Items ?? []
      const hasMore = items.length > limit || output.LastEvaluatedKey !== undefined
      return { items: items.slice(0, limit), hasMore }
    } catch (err) {
      throw toStoreUnavailable(err, operation) ?? err
    }
  }
}

/** Map a stored item to the note the API returns, leaving out storage fields. */
export function toNote (item: Record<string, unknown>): Note {
  return {
    noteId: item[SORT_KEY] as string,
    title: item.title as string,
    content: item.content as string,
    isDeleted: item.isDeleted as boolean,
    version: item.version as number,
    updated: item[UPDATED_ATTRIBUTE] as number,
    createdAt: item.createdAt as number,
  }
}
