// Container health check: exits 0 when GET /health on the running server
// returns 200, and 1 otherwise. The image's HEALTHCHECK runs it because the
// slim base image has no curl. It reads HOST and PORT like the server does.

const TIMEOUT_MS = 4000

/** Returns the address to connect to for a server bound to `bindHost`. */
function connectHost (bindHost) {
  // Unset HOST means the server's default, 127.0.0.1. A server bound to a
  // wildcard address also accepts connections on loopback.
  if (bindHost === undefined || bindHost === '' || bindHost === '0.0.0.0' || bindHost === '::') {
    return '127.0.0.1'
  }
  return bindHost.includes(':') ? `[${bindHost}]` : bindHost
}

const url = `http://${connectHost(process.env.HOST)}:${process.env.PORT || '3000'}/health`

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  if (response.status !== 200) {
    console.error(`Health check failed: GET ${url} returned ${response.status}`)
    process.exit(1)
  }
} catch (error) {
  // fetch reports connection errors as "fetch failed" with the reason in `cause`.
  console.error(`Health check failed: GET ${url}: ${error.cause?.message ?? error.message}`)
  process.exit(1)
}
