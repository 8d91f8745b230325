import type { FastifyInstance } from 'fastify'
import { buildApp, type AppDependencies } from '../../src/app.js'
import { signLocalToken } from '../../src/auth/local-tokens.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createTestTable, testStore } from './store.js'

export const TEST_SECRET = 'test-secret-for-local-tokens-0123456789abcdef'

interface TapTest {
  teardown (fn: () => Promise<void> | void): void
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  tableName: string
  endpoint: string
}

/**
 * Build the app against this file's store with a fresh table and local
 * auth, closed at the end of the test. `environment` adds variables; pass
 * NOTES_TABLE to share a table between two apps.
 */
export async function buildTestApp (
  t: TapTest,
  environment: Record<string, string> = {},
  dependencies: AppDependencies = {},
): Promise<TestApp> {
  const store = await testStore()
  const tableName = environment.NOTES_TABLE ?? await createTestTable(t, store.endpoint)
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    STORE: 'dynamodb',
    DYNAMODB_ENDPOINT: store.endpoint,
    AUTH_MODE: 'local',
    LOCAL_AUTH_SECRET: TEST_SECRET,
    ...environment,
    NOTES_TABLE: tableName,
  })
  const app = await buildApp(config, dependencies)
  t.teardown(() => app.close())
  return { app, config, tableName, endpoint: store.endpoint }
}

/** Sign a local token for `userId`, valid for an hour. */
export function tokenFor (userId: string): Promise<string> {
  return signLocalToken(TEST_SECRET, userId, 3600)
}

const headersByUser = new Map<string, Promise<Record<string, string>>>()

/** Authorization headers for `userId`, signed once per user and test file because signing is slow. */
export function authHeaders (userId: string): Promise<Record<string, string>> {
  let headers = headersByUser.get(userId)
  if (headers === undefined) {
    headers = tokenFor(userId).then((token) => ({ authorization: `Bearer ${token}` }))
    headersByUser.set(userId, headers)
  }
  return headers
}
