import { UpdateCommand } from '@aws-sdk/lib-dynamodb'
import t from 'tap'
import { authHeaders, buildTestApp } from '../helpers/app.js'
import { testClients } from '../helpers/store.js'

t.test('blind write overtaken by a later one', async (t) => {
  const { app, endpoint, tableName } = await buildTestApp(t)
  const direct = testClients(endpoint)
  t.teardown(() => direct.client.destroy())
  let overtaken = false
  // Just before the note write is sent, a write that reserved a later
  // sequence number is stored first.
  app.store.client.middlewareStack.add((next) => async (args) => {
    const input = args.input as { Key?: { noteId?: string }, ConditionExpression?: string }
    if (!overtaken && input.Key?.noteId === 'n1' && input.ConditionExpression?.includes('#seq <') === true) {
      overtaken = true
      await direct.documentClient.send(new UpdateCommand({
        TableName: tableName,
        Key: { userId: 'alice', noteId: 'n1' },
        UpdateExpression: 'SET #title = :title, #content = :content, #isDeleted = :deleted, #version = :version, ' +
          '#seq = :seq, #updated = :now, #createdAt = :now',
        ExpressionAttributeNames: {
          '#title': 'title', '#content': 'content', '#isDeleted': 'isDeleted', '#version': 'version',
          '#seq': 'seq', '#updated': 'updated', '#createdAt': 'createdAt',
        },
        ExpressionAttributeValues: {
          ':title': 'later write', ':content': '', ':deleted': false, ':version': 4, ':seq': 1000, ':now': Date.now(),
        },
      }))
    }
    return next(args)
  }, { step: 'initialize', name: 'overtakeNoteWrite' })

  const response = await app.inject({
    method: 'POST', url: '/notes', headers: await authHeaders('alice'), payload: { noteId: 'n1', title: 'earlier write' },
  })

  t.equal(response.statusCode, 200, 'the write counts as applied, then replaced')
  t.equal(response.json().title, 'later write', 'the client gets the stored note')
  t.equal(response.json().version, 4)
})
