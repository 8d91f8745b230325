import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'

/**
 * Retry and timeout settings of every DynamoDB call. They are set here, not
 * left to SDK defaults, so that an SDK upgrade cannot change them unnoticed.
 */
export const SDK_RETRY = Object.freeze({
  /** Attempts per call, the first included, with the SDK's standard backoff. */
  maxAttempts: 3,
  retryMode: 'standard',
  /** Time to open a connection, in milliseconds. */
  connectionTimeoutMs: 2_000,
  /** Time to wait for a response once the request is sent, in milliseconds. */
  requestTimeoutMs: 5_000,
})

export interface ClientOptions {
  endpoint?: string | undefined
  region?: string | undefined
  /** Dummy credentials, for local endpoints that accept any key. */
  localCredentials?: boolean
  /** Time to wait for a response, in milliseconds; SDK_RETRY.requestTimeoutMs unless a test shortens it. */
  requestTimeoutMs?: number
  /** Extra client settings; tests use it to inject faults. */
  overrides?: Partial<DynamoDBClientConfig> | undefined
}

export interface DynamoClients {
  client: DynamoDBClient
  documentClient: DynamoDBDocumentClient
}

export function createDynamoClients (options: ClientOptions): DynamoClients {
  const client = new DynamoDBClient({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.localCredentials === true
      ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
    maxAttempts: SDK_RETRY.maxAttempts,
    retryMode: SDK_RETRY.retryMode,
    requestHandler: {
      connectionTimeout: SDK_RETRY.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs ?? SDK_RETRY.requestTimeoutMs,
      // Without this, @smithy/node-http-handler 4 only logs a warning when
      // requestTimeout passes, and a store that never responds hangs reads.
      throwOnRequestTimeout: true,
    },
    ...options.overrides,
  })
  const documentClient = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  })
  return { client, documentClient }
}

/** True for an endpoint outside AWS, such as DynamoDB Local or dynalite. */
export function isLocalEndpoint (endpoint: string): boolean {
  return !new URL(endpoint).hostname.endsWith('.amazonaws.com')
}
