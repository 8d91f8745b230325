import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../config.js'

export const SECRET_FILE_NAME = 'local-auth-secret'

/**
 * Return the secret of AUTH_MODE=local: LOCAL_AUTH_SECRET when set, else the
 * one kept in DATA_DIR, generated on first use so that the server and the
 * token command agree without any setup. Config validation guarantees one of
 * the two exists.
 */
export async function resolveLocalSecret (config: Config): Promise<string> {
  if (config.auth.mode === 'local' && config.auth.secret !== undefined) return config.auth.secret
  if (config.store.kind !== 'embedded' || config.store.dataDir === null) {
    throw new Error('LOCAL_AUTH_SECRET is missing; set it to a random string of at least 32 characters.')
  }

  const file = join(config.store.dataDir, SECRET_FILE_NAME)
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }

  await mkdir(config.store.dataDir, { recursive: true })
  const secret = randomBytes(32).toString('hex')
  try {
    // 'wx' fails when another process wrote the file first; read theirs.
    await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' })
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return (await readFile(file, 'utf8')).trim()
  }
}
