import t from 'tap'
import { authHeaders, buildTestApp } from '../helpers/app.js'

const EXPRESSION_FIELDS = [
  'UpdateExpression',
  'ConditionExpression',
  'KeyConditionExpression',
  'FilterExpression',
  'ProjectionExpression',
] as const

/** Words of DynamoDB's expression syntax, which are not attribute names. */
const SYNTAX = new Set([
  'SET', 'REMOVE', 'ADD', 'DELETE', 'AND', 'OR', 'NOT', 'BETWEEN', 'IN',
  'if_not_exists', 'attribute_not_exists', 'attribute_exists', 'list_append', 'begins_with', 'size',
])

t.test('every expression uses name placeholders', async (t) => {
  const { app } = await buildTestApp(t)
  const expressions: string[] = []
  app.store.client.middlewareStack.add((next) => async (args) => {
    const input = args.input as Record<string, unknown>
    for (const field of EXPRESSION_FIELDS) {
      if (typeof input[field] === 'string') expressions.push(input[field] as string)
    }
    return next(args)
  }, { step: 'initialize', name: 'captureExpressions' })
  const headers = await authHeaders('alice')
  const push = (payload: object) => app.inject({ method: 'POST', url: '/notes', headers, payload })

  await push({ noteId: 'a', version: 0 })
  await push({ noteId: 'a', version: 1, title: 'versioned' })
  await push({ noteId: 'a', version: 1, title: 'conflict' })
  await push({ noteId: 'a', isDeleted: true })
  const pulled = await app.inject({ method: 'GET', url: '/notes', headers })
  await app.inject({ method: 'GET', url: `/notes?cursor=${pulled.json().cursor}`, headers })
  const byTime = await app.inject({ method: 'GET', url: '/notes?lastUpdated=0&limit=1', headers })
  await app.inject({ method: 'GET', url: `/notes?cursor=${byTime.json().cursor}`, headers })

  t.ok(expressions.length >= 12, `captured ${expressions.length} expressions`)
  for (const expression of expressions) {
    const withoutPlaceholders = expression.replace(/[#:][A-Za-z0-9_]+/g, ' ')
    const bare = (withoutPlaceholders.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).filter((word) => !SYNTAX.has(word))
    t.same(bare, [], expression)
  }
})
