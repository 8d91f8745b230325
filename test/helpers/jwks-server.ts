import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Fetcher } from 'aws-jwt-verify/https'
import type { Jwk } from 'aws-jwt-verify/jwk'

/** PEM key and certificate of a TLS server. */
export interface TlsCredentials {
  key: string
  cert: string
}

/**
 * Create a self-signed P-256 certificate for 127.0.0.1 and localhost, valid
 * for one day, with the `openssl` command. Throws when openssl is missing.
 */
export function createSelfSignedCertificate (): TlsCredentials {
  const folder = mkdtempSync(join(tmpdir(), 'jwks-tls-'))
  const keyPath = join(folder, 'key.pem')
  const certPath = join(folder, 'cert.pem')
  try {
    execFileSync('openssl', [
      'req', '-x509', '-nodes', '-days', '1',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', keyPath, '-out', certPath,
      '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'pipe' })
    return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') }
  } finally {
    rmSync(folder, { recursive: true, force: true })
  }
}

/**
 * How the server responds to a request for the key set.
 * - `serve`: 200 with the key set.
 * - `slow`: 200 with the key set after `delayMs`.
 * - `hang`: reads the request and never responds.
 * - `trickle`: sends 200 and headers, then one space of body every
 *   TRICKLE_INTERVAL_MS, and never ends the body.
 * - `close`: destroys the socket without a response.
 * - `error`: 500.
 * - `invalid`: 200 with an HTML body instead of a key set.
 */
export type JwksServerMode = 'serve' | 'slow' | 'hang' | 'trickle' | 'close' | 'error' | 'invalid'

const TRICKLE_INTERVAL_MS = 250

/**
 * HTTPS server of one user pool's key set on 127.0.0.1, whose response can
 * be switched while it runs. It counts the requests for the key set path and
 * records requests for any other path.
 */
export class JwksServer {
  /** Requests for the key set path received so far, in every mode. */
  requests = 0
  /** Paths of requests for anything but the key set. */
  readonly unexpectedPaths: string[] = []
  mode: JwksServerMode = 'serve'
  /** Delay of the `slow` mode, in milliseconds. */
  delayMs = 0

  private readonly keys: Jwk[]
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly server: Server
  private port = 0

  private constructor (tls: TlsCredentials, readonly path: string, keys: Jwk[]) {
    this.keys = [...keys]
    this.server = createServer(tls, (request, response) => this.handle(request, response))
  }

  /** Start a server of `keys` at `path` on a free port of 127.0.0.1. */
  static async start (tls: TlsCredentials, path: string, keys: Jwk[]): Promise<JwksServer> {
    const server = new JwksServer(tls, path, keys)
    await server.listen()
    return server
  }

  /** Scheme, host and port of the server, such as https://127.0.0.1:40123. */
  get origin (): string {
    return `https://127.0.0.1:${this.port}`
  }

  /** Publish one more key, as a user pool does when it rotates keys. */
  addKey (jwk: Jwk): void {
    this.keys.push(jwk)
  }

  /** Close the listening socket and every connection, so that connecting is refused. */
  async stop (): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    if (!this.server.listening) return
    const closed = new Promise<void>((resolve, reject) => {
      this.server.close((err) => (err === undefined ? resolve() : reject(err)))
    })
    this.server.closeAllConnections()
    await closed
  }

  /** Listen again on the port of the first start. */
  restart (): Promise<void> {
    return this.listen()
  }

  private listen (): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject)
        const address = this.server.address()
        if (typeof address === 'object' && address !== null) this.port = address.port
        resolve()
      })
    })
  }

  private handle (request: IncomingMessage, response: ServerResponse): void {
    if (request.url !== this.path) {
      this.unexpectedPaths.push(request.url ?? '')
      response.writeHead(404).end()
      return
    }
    this.requests += 1

    switch (this.mode) {
      case 'serve':
        this.sendKeys(response)
        break
      case 'slow':
        this.schedule(() => this.sendKeys(response), this.delayMs)
        break
      case 'hang':
        break
      case 'trickle':
        response.writeHead(200, { 'content-type': 'application/json' })
        this.trickle(response)
        break
      case 'close':
        request.socket.destroy()
        break
      case 'error':
        response.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"internal error"}')
        break
      case 'invalid':
        response.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Service unavailable</body></html>')
        break
    }
  }

  private sendKeys (response: ServerResponse): void {
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }))
  }

  private trickle (response: ServerResponse): void {
    let open = true
    response.on('close', () => {
      open = false
    })
    const writeSpace = () => {
      if (!open) return
      response.write(' ')
      this.schedule(writeSpace, TRICKLE_INTERVAL_MS)
    }
    writeSpace()
  }

  private schedule (action: () => void, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      action()
    }, delayMs)
    this.timers.add(timer)
  }
}

/**
 * Fetcher that sends key set requests of one user pool to a JwksServer on
 * 127.0.0.1 through `inner`, keeping the path. `expectedUris` are the key
 * set URIs of the pool. It throws for any other URI, so no request leaves
 * 127.0.0.1, and records that URI in `rejectedUris`.
 */
export class LoopbackFetcher implements Fetcher {
  /** Fetches passed on to `inner`, by the URI the verifier requested. */
  readonly callsByUri = new Map<string, number>()
  readonly rejectedUris: string[] = []

  constructor (
    private readonly expectedUris: readonly string[],
    private readonly server: JwksServer,
    private readonly inner: Fetcher,
  ) {}

  /** Fetches passed on to `inner`, for every expected URI. */
  get calls (): number {
    let total = 0
    for (const count of this.callsByUri.values()) total += count
    return total
  }

  async fetch (uri: string, requestOptions?: Record<string, unknown>, data?: ArrayBuffer): Promise<ArrayBuffer> {
    if (!this.expectedUris.includes(uri)) {
      this.rejectedUris.push(uri)
      throw new Error(`fetch of ${uri} rejected: only ${this.expectedUris.join(' and ')} are served, from 127.0.0.1`)
    }
    this.callsByUri.set(uri, (this.callsByUri.get(uri) ?? 0) + 1)
    const local = new URL(new URL(uri).pathname, this.server.origin)
    return this.inner.fetch(local.href, requestOptions, data)
  }
}
