import { StoreUnavailableError } from '../errors.js'

const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
])

interface SdkError {
  name?: string
  code?: string
  $metadata?: { httpStatusCode?: number }
}

export function isThrottling (err: unknown): boolean {
  return THROTTLING_ERRORS.has((err as SdkError)?.name ?? '')
}

/**
 * True when DynamoDB responded and rejected the request, so it was not
 * applied. Network errors, timeouts and 5xx responses leave the outcome
 * unknown: the write may have been applied.
 */
export function isDefiniteRejection (err: unknown): boolean {
  const status = (err as SdkError)?.$metadata?.httpStatusCode
  return status !== undefined && status >= 400 && status < 500
}

/**
 * Turn a throttling, network or 5xx error into StoreUnavailableError. Returns
 * undefined for any other error (a bug or a rejected request), which the
 * caller handles or raises as it is.
 */
export function toStoreUnavailable (err: unknown, operation: string): StoreUnavailableError | undefined {
  const name = (err as SdkError)?.name ?? ''
  if (isThrottling(err)) {
    return new StoreUnavailableError(
      'STORE_THROTTLED',
      `The database is throttling requests (${operation}); retry after the Retry-After delay.`,
      { cause: err },
    )
  }
  if (name === 'ResourceNotFoundException') {
    return new StoreUnavailableError(
      'STORE_UNAVAILABLE',
      `The notes table is missing (${operation}); the operator must create it, then retry.`,
      { cause: err },
    )
  }
  if (isUnreachable(err)) {
    return new StoreUnavailableError(
      'STORE_UNAVAILABLE',
      `The database did not answer (${operation}); retry after the Retry-After delay.`,
      { cause: err },
    )
  }
  return undefined
}

const NETWORK_ERROR_NAMES = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'NetworkingError'])
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
])

/** Return true for a network failure, a timeout or a 5xx response from the store. */
function isUnreachable (err: unknown): boolean {
  const sdkError = err as SdkError
  const status = sdkError?.$metadata?.httpStatusCode
  if (status !== undefined && status >= 500) return true
  return NETWORK_ERROR_NAMES.has(sdkError?.name ?? '') || NETWORK_ERROR_CODES.has(sdkError?.code ?? '')
}
