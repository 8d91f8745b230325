import { readFile } from 'node:fs/promises'
import t from 'tap'
import { ENVIRONMENT_VARIABLES } from '../src/config.js'
import { authHeaders, buildTestApp } from './helpers/app.js'
import { REPOSITORY_ROOT } from './helpers/process.js'

const readme = await readFile(`${REPOSITORY_ROOT}README.md`, 'utf8')

/** Rows of the README table that follows `heading`, as arrays of cells. */
function tableAfter (heading: string): string[][] {
  const section = readme.slice(readme.indexOf(heading))
  const lines = section.split('\n').slice(1)
  const start = lines.findIndex((line) => line.startsWith('|'))
  const rows = []
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    rows.push(line.split('|').slice(1, -1).map((cell) => cell.trim()))
  }
  return rows
}

t.test('settings table lists every variable', async (t) => {
  const documented = tableAfter('## Settings').map((row) => (row[0] ?? '').replaceAll('`', ''))

  t.same([...documented].sort(), [...ENVIRONMENT_VARIABLES].sort())
})

t.test('.env.example lists every variable', async (t) => {
  const example = await readFile(`${REPOSITORY_ROOT}.env.example`, 'utf8')
  const names = example.split('\n').filter((line) => /^[A-Z_]+=/.test(line)).map((line) => line.split('=')[0])

  t.same([...names].sort(), [...ENVIRONMENT_VARIABLES].sort())
})

t.test('README commands exist as npm scripts', async (t) => {
  const scriptsOf = async (path: string) =>
    (JSON.parse(await readFile(`${REPOSITORY_ROOT}${path}`, 'utf8')) as { scripts: Record<string, string> }).scripts
  const root = await scriptsOf('package.json')
  const deploy = await scriptsOf('deploy/package.json')
  const builtIn = new Set(['ci', 'install', 'run'])

  for (const line of readme.split('\n')) {
    const scripts = line.includes('cd deploy') ? deploy : root
    // A command starts a line, a `code span`, or follows && or $(.
    for (const match of line.matchAll(/(?:^|`|&& |\$\()npm (?:run (?:--silent )?)?([a-z-]+)/g)) {
      const script = match[1] as string
      if (builtIn.has(script)) continue
      t.ok(scripts[script], `npm ${script} in: ${line.trim()}`)
    }
  }
})

interface Step {
  method: string
  url: string
  body: string | undefined
  expected: string
}

/** Read each curl call of the walkthrough with the JSON shown after it. */
function walkthroughSteps (): Step[] {
  const section = readme.slice(readme.indexOf('## Try it with curl'), readme.indexOf('## API'))
  const cursor = /CURSOR=(\S+)/.exec(section)?.[1] ?? ''
  const blocks = [...section.matchAll(/```(sh|json)\n([\s\S]*?)```/g)]
  const steps: Step[] = []
  blocks.forEach(([, kind, text], index) => {
    if (kind !== 'sh' || !(text as string).includes('curl')) return
    const command = (text as string).replaceAll('\\\n', ' ').replaceAll('$CURSOR', cursor)
    const method = /-X (\w+)/.exec(command)?.[1] ?? 'GET'
    const url = /"?http:\/\/127\.0\.0\.1:3000([^"\s]*)"?/.exec(command)?.[1] ?? ''
    const body = /-d '([^']*)'/.exec(command)?.[1]
    steps.push({ method, url, body, expected: (blocks[index + 1]?.[2] ?? '').trim() })
  })
  return steps
}

/** Replace server times with a placeholder; they differ on every run. */
function withoutTimes (text: string): string {
  return text.replace(/"(updated|createdAt)":\d+/g, '"$1":0')
}

t.test('README walkthrough output is real', async (t) => {
  const { app } = await buildTestApp(t)
  const headers = await authHeaders('alice')
  const steps = walkthroughSteps()

  t.equal(steps.length, 7, 'every curl call is read')
  for (const step of steps) {
    const response = await app.inject({
      method: step.method as 'GET' | 'POST',
      url: step.url,
      headers: step.body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(step.body === undefined ? {} : { payload: step.body }),
    })
    t.equal(withoutTimes(response.body), withoutTimes(step.expected), `${step.method} ${step.url}`)
  }
})

t.test('SECURITY.md names existing tests', async (t) => {
  const security = await readFile(`${REPOSITORY_ROOT}SECURITY.md`, 'utf8')
  const rows = security.split('\n').filter((line) => line.startsWith('| API'))

  t.equal(rows.length, 10, 'one row per OWASP API risk')
  for (const row of rows) {
    const cell = row.split('|').at(-2) ?? ''
    // Each reference is a `file` or `folder/` followed by the quoted names of tests in it.
    for (const [, path, names] of cell.matchAll(/`([^`]+)`((?:,? ?"[^"]+")*)/g)) {
      const location = (path as string).startsWith('deploy/') ? path as string : `test/${path}`
      if ((path as string).endsWith('/')) {
        t.ok(await readFile(`${REPOSITORY_ROOT}${location}`).catch((err: NodeJS.ErrnoException) => err.code === 'EISDIR'), location)
        continue
      }
      const source = await readFile(`${REPOSITORY_ROOT}${location}`, 'utf8')
      for (const [, name] of (names as string).matchAll(/"([^"]+)"/g)) {
        t.ok(source.includes(`test('${name}'`), `${location} has a test named "${name}"`)
      }
    }
  }
})
