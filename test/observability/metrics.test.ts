import t from 'tap'
import { authHeaders, buildTestApp } from '../helpers/app.js'

/** Value of one sample in Prometheus text format, or undefined. */
function sample (text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((row) => row.startsWith(`${name}{${labels}}`) || (labels === '' && row.startsWith(`${name} `)))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

t.test('GET /metrics counts requests and store calls', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'a' } })
  await app.inject({ method: 'POST', url: '/notes', headers, payload: { noteId: 'a', version: 7 } })
  await app.inject({ method: 'GET', url: '/notes?cursor=abc', headers })

  const response = await app.inject({ method: 'GET', url: '/metrics' })
  const text = response.body

  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /text\/plain/)
  t.equal(sample(text, 'http_requests_total', 'method="POST",route="/notes",status_code="201"'), 1)
  t.equal(sample(text, 'http_requests_total', 'method="POST",route="/notes",status_code="409"'), 1)
  t.equal(sample(text, 'http_requests_total', 'method="GET",route="/notes",status_code="400"'), 1)
  t.equal(sample(text, 'http_request_duration_seconds_count', 'method="POST",route="/notes",status_code="201"'), 1)
  t.equal(sample(text, 'notes_version_conflicts_total', ''), 1)
  t.equal(sample(text, 'notes_abandoned_intents_cleared_total', ''), 0)
  t.equal(sample(text, 'dynamodb_calls_total', 'operation="UpdateItemCommand",outcome="ok"'), 5)
  t.equal(sample(text, 'dynamodb_calls_total', 'operation="UpdateItemCommand",outcome="ConditionalCheckFailedException"'), 1)
  t.equal(sample(text, 'dynamodb_calls_total', 'operation="GetItemCommand",outcome="ok"'), 1)
  t.match(text, /process_resident_memory_bytes/)
})

t.test('GET /metrics labels unknown routes once', async (t) => {
  const { app } = await buildTestApp(t)
  await app.inject({ method: 'GET', url: '/nope?a=1' })
  await app.inject({ method: 'GET', url: '/other' })

  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body

  t.equal(sample(text, 'http_requests_total', 'method="GET",route="unmatched",status_code="404"'), 2)
})
