import { connect, createServer, type Server, type Socket } from 'node:net'

export interface SlowProxy {
  endpoint: string
  /** Number of request chunks received so far. */
  requests (): number
  close (): Promise<void>
}

/**
 * Start a TCP proxy on 127.0.0.1 that forwards to `target` and delays every
 * chunk sent towards it by `delayMs`: a store that responds slowly.
 */
export async function startSlowProxy (target: string, delayMs: number): Promise<SlowProxy> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<Socket>()
  let requests = 0

  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    sockets.add(client)
    sockets.add(upstream)
    client.on('data', (chunk) => {
      requests++
      setTimeout(() => upstream.write(chunk), delayMs)
    })
    upstream.pipe(client)
    const destroy = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('close', destroy)
    upstream.on('close', destroy)
    client.on('error', destroy)
    upstream.on('error', destroy)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const proxyPort = typeof address === 'object' && address !== null ? address.port : 0

  return {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    }),
  }
}
