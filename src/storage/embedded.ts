import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import dynalite from 'dynalite'
import { Level } from 'level'

/** A dynalite server on loopback: the development store. */
export interface EmbeddedStore {
  readonly endpoint: string
  close (): Promise<void>
}

/**
 * Start dynalite on 127.0.0.1 on a free port, with its data in `dataDir`
 * or in memory when `dataDir` is null.
 */
export async function startEmbeddedStore (dataDir: string | null): Promise<EmbeddedStore> {
  if (dataDir !== null) {
    await mkdir(dataDir, { recursive: true })
    await assertDataDirFree(dataDir)
  }

  const server = dynalite({
    ...(dataDir === null ? {} : { path: dataDir }),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })

  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((err) => (err === undefined || err === null ? resolve() : reject(err)))
    }),
  }
}

/**
 * Fail with a clear message when another process has the LevelDB folder
 * open. dynalite would otherwise crash the process on its first read.
 */
async function assertDataDirFree (dataDir: string): Promise<void> {
  const probe = new Level(dataDir)
  try {
    await probe.open()
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new Error(
        `DATA_DIR "${dataDir}" is in use by another notes-sync server; stop that server, ` +
        'or set DATA_DIR to another folder.',
        { cause: err },
      )
    }
    throw err
  } finally {
    await probe.close()
  }
}
