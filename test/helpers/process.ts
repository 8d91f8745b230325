import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export const REPOSITORY_ROOT = new URL('../../', import.meta.url).pathname

/**
 * Environment of a child process. Without NODE_V8_COVERAGE, because V8
 * coverage of the compiled dist/ files does not merge with the coverage tap
 * records for src/ in the test process, and would garble the report.
 */
function childEnvironment (env: Record<string, string>): Record<string, string | undefined> {
  const { NODE_V8_COVERAGE: _coverage, ...inherited } = process.env
  return { ...inherited, ...env }
}

/** Find a free TCP port on 127.0.0.1. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run a command to completion in the repository root. */
export function run (command: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPOSITORY_ROOT, env: childEnvironment(env) })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => { stdout += chunk })
    child.stderr.on('data', (chunk) => { stderr += chunk })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface ServerProcess {
  child: ChildProcess
  /** Everything the process printed to stdout so far. */
  output (): string
  /** Resolves with the exit code once the process has exited (null when a signal ended it). */
  exited: Promise<number | null>
}

/**
 * Start a long-running command in its own process group and wait until its
 * output contains `readyText`. Rejects with the output when it exits first
 * or when `timeoutMs` passes.
 */
export function startProcess (
  command: string,
  args: string[],
  env: Record<string, string>,
  readyText: string,
  timeoutMs = 60_000,
): Promise<ServerProcess> {
  const child = spawn(command, args, {
    cwd: REPOSITORY_ROOT,
    env: childEnvironment(env),
    detached: true,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => { stdout += chunk })
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} did not print "${readyText}" within ${timeoutMs} ms:\n${stdout}\n${stderr}`))
    }, timeoutMs)
    const poll = setInterval(() => {
      if (!stdout.includes(readyText)) return
      clearInterval(poll)
      clearTimeout(timer)
      resolve({ child, output: () => stdout, exited })
    }, 50)
    void exited.then((code) => {
      clearInterval(poll)
      clearTimeout(timer)
      reject(new Error(`${command} exited with ${code} before it was ready:\n${stdout}\n${stderr}`))
    })
  })
}
