// Static checks of the Dockerfile and .dockerignore. They need no Docker
// engine: the Dockerfile is parsed with dockerfile-ast.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import type { Env, Arg, From } from 'dockerfile-ast'
import {
  copySteps,
  execForm,
  instructionsOf,
  readDockerfile,
  repoRoot,
  runCommands,
  type Stage,
} from './read-dockerfile.js'

const dockerfile = readDockerfile()
const final = dockerfile.finalStage

/** A Node 22 tag with an exact version and a slim variant, such as 22.23.4-bookworm-slim. */
const PINNED_NODE_22_SLIM = /^22\.\d+\.\d+(-[a-z]+)?-slim$/
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|KEY/i

function imageReference (from: From) {
  const tag = from.getImageTag()
  return tag === null ? from.getImageName() : `${from.getImageName()}:${tag}`
}

/** Returns the stage that FROM refers to when it names an earlier stage. */
function parentStage (from: From): Stage | undefined {
  return dockerfile.stages.find((stage) => stage.name === from.getImageName() && stage.from !== from)
}

t.test('multi-stage build', async (t) => {
  t.ok(dockerfile.stages.length >= 2, `expected at least 2 stages, found ${dockerfile.stages.length}`)

  const copiesFromStages = copySteps(final).filter((step) => step.fromStage !== null)
  t.ok(copiesFromStages.length > 0, 'final stage copies from an earlier stage')

  for (const step of copiesFromStages) {
    const source = dockerfile.stage(step.fromStage as string)
    t.not(source, final, `COPY --from=${step.fromStage} names an earlier stage`)
    const commands = runCommands(source)
    t.ok(
      commands.some((command) => /^npm ci\b/.test(command) && !command.includes('--omit=dev')),
      `stage ${source.name} installs all dependencies with npm ci`,
    )
    t.ok(commands.includes('npm run build'), `stage ${source.name} runs npm run build`)
  }

  const distCopy = copiesFromStages.find((step) => step.sources.some((path) => posix.basename(path) === 'dist'))
  t.ok(distCopy, 'final stage copies dist/ from the build stage')
})

t.test('base images pinned to Node 22 slim', async (t) => {
  for (const stage of dockerfile.stages) {
    const from = stage.from
    if (parentStage(from) !== undefined) continue
    const reference = imageReference(from)
    t.equal(from.getImageName(), 'node', `stage ${stage.name} is based on the official node image (${reference})`)
    t.match(
      from.getImageTag() ?? '',
      PINNED_NODE_22_SLIM,
      `stage ${stage.name} pins an exact Node 22 slim tag such as 22.23.4-bookworm-slim, found ${reference}`,
    )
  }
  t.not(final.from.getImageTag(), 'latest', 'final stage is not on latest')
})

t.test('final stage runs as non-root user', async (t) => {
  const users = instructionsOf(final, 'USER')
  const user = users.at(-1)?.getArgumentsContent()?.trim()
  t.ok(user, 'final stage has a USER instruction')
  const name = user?.split(':')[0]
  t.not(name, 'root', 'USER is not root')
  t.not(name, '0', 'USER is not uid 0')
  t.equal(name, 'node', 'USER is the node user of the official image')

  const cmd = instructionsOf(final, 'CMD').at(-1)
  t.ok(cmd, 'final stage has a CMD')
  if (users.length > 0 && cmd !== undefined) {
    const userLine = users.at(-1)?.getRange().start.line ?? Infinity
    t.ok(userLine < cmd.getRange().start.line, 'USER comes before CMD')
  }
})

t.test('final stage installs production dependencies only', async (t) => {
  const commands = runCommands(final)
  const installs = commands.filter((command) => /^npm (ci|install|i)\b/.test(command))
  t.equal(installs.length, 1, `one npm install command in the final stage, found: ${installs.join(' | ')}`)
  t.match(installs[0] ?? '', /^npm ci\b/, 'final stage uses npm ci, which installs exactly the lockfile')
  t.match(installs[0] ?? '', /\s--omit=dev(\s|$)/, 'final stage passes --omit=dev')

  const contextSources = copySteps(final)
    .filter((step) => step.fromStage === null)
    .flatMap((step) => step.sources)
  t.ok(contextSources.includes('package-lock.json'), 'final stage copies package-lock.json for npm ci')
  t.notOk(contextSources.includes('src'), 'final stage does not copy TypeScript sources')
  t.notOk(contextSources.includes('.'), 'final stage does not copy the whole build context')
})

/** Lifecycle scripts of the root package that `npm ci` runs unless given --ignore-scripts. */
const NPM_CI_LIFECYCLE_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare']

/**
 * Production dependencies whose install script the image may skip, because
 * the package loads a prebuilt binary at run time. image.test.ts starts the
 * server on the embedded store on disk, which loads classic-level.
 */
const INSTALL_SCRIPTS_SAFE_TO_SKIP = ['node_modules/classic-level']

t.test('npm ci and install scripts', async (t) => {
  const packageJson = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }
  const lifecycle = NPM_CI_LIFECYCLE_SCRIPTS.filter((name) => packageJson.scripts?.[name] !== undefined)

  for (const stage of dockerfile.stages) {
    for (const command of runCommands(stage).filter((candidate) => /^npm ci\b/.test(candidate))) {
      if (lifecycle.length === 0) continue
      t.match(
        command,
        /\s--ignore-scripts(\s|$)/,
        `stage ${stage.name}: npm ci passes --ignore-scripts, because package.json defines ${lifecycle.join(', ')}, ` +
        'which would run before the sources are copied or without dev dependencies',
      )
    }
  }

  // With --ignore-scripts in the runtime stage, no production dependency may
  // need its install script to work.
  const lockfile = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean, hasInstallScript?: boolean }>
  }
  const withScripts = Object.entries(lockfile.packages)
    .filter(([, entry]) => entry.hasInstallScript === true && entry.dev !== true)
    .map(([path]) => path)
  t.same(
    withScripts.filter((path) => !INSTALL_SCRIPTS_SAFE_TO_SKIP.includes(path)),
    [],
    'every production dependency with an install script works without it; check a new one and add it to INSTALL_SCRIPTS_SAFE_TO_SKIP',
  )
})

t.test('CMD starts the server in exec form', async (t) => {
  const cmd = instructionsOf(final, 'CMD').at(-1)
  if (cmd === undefined) return t.fail('final stage has no CMD')
  t.same(execForm(cmd), ['node', 'dist/src/server.js'], 'CMD ["node", "dist/src/server.js"]')
  t.equal(instructionsOf(final, 'ENTRYPOINT').length, 0, 'no ENTRYPOINT wraps the node process')
})

t.test('HEALTHCHECK runs node against /health', async (t) => {
  const healthchecks = final.template.getHEALTHCHECKs()
  t.equal(healthchecks.length, 1, 'final stage has one HEALTHCHECK')
  const healthcheck = healthchecks[0]
  if (healthcheck === undefined) return

  const command = execForm(healthcheck)
  if (command === null) return t.fail('HEALTHCHECK CMD uses the exec form')
  t.equal(command[0], 'node', 'the check runs on node, because the slim image has no curl')

  const flags = Object.fromEntries(
    healthcheck.getFlags().map((flag) => [flag.getName(), flag.getValue()]),
  )
  for (const name of ['interval', 'timeout', 'start-period', 'retries']) {
    t.ok(flags[name], `HEALTHCHECK sets --${name}`)
  }

  // The check either names /health itself or runs a script that does.
  const script = command.slice(1).find((argument) => /\.m?js$/.test(argument))
  if (script === undefined) {
    t.ok(command.some((argument) => argument.includes('/health')), 'HEALTHCHECK requests /health')
    return
  }
  const imagePath = posix.resolve(final.workdir, script)
  const copy = copySteps(final).find((step) =>
    step.fromStage === null &&
    step.sources.length === 1 &&
    posix.resolve(final.workdir, step.destination) === imagePath)
  const source = copy?.sources[0]
  if (source === undefined) return t.fail(`the image receives ${imagePath} through a COPY`)
  const contextPath = join(repoRoot, source)
  if (!existsSync(contextPath)) return t.fail(`${source} exists in the repository`)
  t.match(readFileSync(contextPath, 'utf8'), /\/health\b/, `${source} requests /health`)
})

t.test('image environment', async (t) => {
  const env = new Map<string, string>()
  for (const instruction of final.template.getENVs()) {
    for (const property of instruction.getProperties()) {
      env.set(property.getName(), property.getValue() ?? '')
    }
  }
  t.equal(env.get('HOST'), '0.0.0.0', 'HOST=0.0.0.0, because the default 127.0.0.1 is unreachable from outside')
  t.same(
    [...env.keys()].filter((name) => !['HOST', 'PORT'].includes(name)),
    [],
    'the image sets no variables beyond HOST and PORT; the deployment sets NODE_ENV, STORE and AUTH_MODE',
  )
  const exposed = instructionsOf(final, 'EXPOSE').map((expose) => expose.getArgumentsContent()?.trim())
  t.same(exposed, [env.get('PORT') ?? '3000'], 'EXPOSE matches PORT')
})

t.test('no secrets in ENV or ARG', async (t) => {
  for (const stage of dockerfile.stages) {
    const properties = [
      ...stage.template.getENVs().flatMap((instruction: Env) => instruction.getProperties()),
      ...stage.template.getARGs().flatMap((instruction: Arg) => {
        const property = instruction.getProperty()
        return property === null ? [] : [property]
      }),
    ]
    for (const property of properties) {
      const name = property.getName()
      if (!SECRET_NAME.test(name)) continue
      t.notOk(property.getValue(), `stage ${stage.name}: ${name} has no value in the Dockerfile; pass it at run time`)
    }
  }
  t.notOk(/AKIA[0-9A-Z]{16}/.test(dockerfile.text), 'no AWS access key id in the Dockerfile')
})

/**
 * Returns whether .dockerignore excludes `path`, a path relative to the build
 * context. It follows Docker's rules. Patterns are relative to the context
 * root. `*` and `?` stay within one path segment, and `**` spans any number
 * of segments. A pattern also excludes everything below a matching folder.
 * A leading `!` includes paths again, and the last matching pattern wins.
 */
function isIgnored (path: string, patterns: string[]) {
  const prefixes = path.split('/').map((_, index, parts) => parts.slice(0, index + 1).join('/'))
  let ignored = false
  for (const line of patterns) {
    const exclusion = line.startsWith('!')
    const pattern = posix.normalize((exclusion ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '')
    if (/[[\]\\]/.test(pattern)) {
      throw new Error(`.dockerignore pattern "${line}" uses a character class or escape, which this check does not support`)
    }
    const regex = new RegExp(`^${globToRegex(pattern)}$`)
    if (prefixes.some((prefix) => regex.test(prefix))) ignored = !exclusion
  }
  return ignored
}

function globToRegex (pattern: string) {
  let regex = ''
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string
    if (char === '*' && pattern[i + 1] === '*') {
      i++
      if (pattern[i + 1] === '/') i++
      regex += i === pattern.length - 1 ? '.*' : '(.*/)?'
    } else if (char === '*') {
      regex += '[^/]*'
    } else if (char === '?') {
      regex += '[^/]'
    } else {
      regex += char.replace(/[.+^${}()|]/g, '\\$&')
    }
  }
  return regex
}

t.test('.dockerignore', async (t) => {
  const ignorePath = join(repoRoot, '.dockerignore')
  const patterns = readFileSync(ignorePath, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))

  const excluded = [
    'node_modules/fastify/package.json',
    'deploy/node_modules/aws-cdk-lib/package.json',
    'dist/src/server.js',
    'test/container/dockerfile.test.ts',
    '.data/notes/CURRENT',
    '.env',
    '.env.local',
    '.env.production',
    '.git/HEAD',
    'coverage/lcov.info',
    '.tap/processinfo/run.json',
    'cdk.out/manifest.json',
    'deploy/cdk.out/manifest.json',
  ]
  for (const path of excluded) {
    t.ok(isIgnored(path, patterns), `${path} stays out of the build context`)
  }

  // Everything a COPY takes from the build context must reach the builder.
  const copied = dockerfile.stages
    .flatMap((stage) => copySteps(stage))
    .filter((step) => step.fromStage === null)
    .flatMap((step) => step.sources)
  for (const path of new Set(copied)) {
    t.ok(existsSync(join(repoRoot, path)), `${path} exists in the repository`)
    t.notOk(isIgnored(path, patterns), `${path} is in the build context`)
  }
  t.notOk(isIgnored('src/server.ts', patterns), 'src/server.ts is in the build context')

  t.test('pattern matcher', async (t) => {
    t.ok(isIgnored('a/b/c.txt', ['a']), 'a folder pattern excludes its contents')
    t.notOk(isIgnored('x/a', ['a']), 'patterns are anchored at the context root')
    t.ok(isIgnored('x/y/node_modules/z', ['**/node_modules']), '** spans folders')
    t.ok(isIgnored('node_modules/z', ['**/node_modules']), '** also matches zero folders')
    t.notOk(isIgnored('.env.example', ['.env*', '!.env.example']), '! re-includes')
    t.ok(isIgnored('a.md', ['*.md']), '* matches within a segment')
    t.notOk(isIgnored('docs/a.md', ['*.md']), '* does not cross a slash')
  })
})
