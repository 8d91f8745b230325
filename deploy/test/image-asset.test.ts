import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { REPO_ROOT } from '../lib/app.js'
import { onlyResource, removeSynthOutput, synthesize, type Synthesized } from './helpers/synth.js'

interface DockerImageAssetEntry {
  readonly source: { readonly directory: string, readonly platform?: string }
}

/** Files of a build context: some must reach the image build, the others must not. */
const BUILD_CONTEXT_FILES = {
  'Dockerfile': 'FROM node:20-slim\n',
  '.dockerignore': 'test\n',
  'package.json': '{}\n',
  'src/server.ts': 'export {}\n',
  'test/server.test.ts': 'export {}\n',
  'node_modules/fastify/index.js': '\n',
  'deploy/cdk.out/manifest.json': '{}\n',
  'deploy/node_modules/aws-cdk-lib/index.js': '\n',
  '.git/HEAD': 'ref: refs/heads/main\n',
  '.env': 'SECRET=1\n',
  'dist/src/server.js': '\n',
  'npm-debug.log': '\n',
}

const temporaryFolders: string[] = []

after(() => {
  removeSynthOutput()
  for (const folder of temporaryFolders.splice(0)) rmSync(folder, { recursive: true, force: true })
})

function createBuildContext (): string {
  const root = mkdtempSync(join(tmpdir(), 'notes-sync-context-'))
  temporaryFolders.push(root)
  for (const [path, content] of Object.entries(BUILD_CONTEXT_FILES)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  return root
}

/** Lists the files under `root`, relative to it, sorted. */
function listFiles (root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((path) => statSync(join(root, path)).isFile())
    .sort()
}

/** Reads the one Docker image asset of a synthesized stack from its asset manifest. */
function dockerImageAsset (synthesized: Synthesized): DockerImageAssetEntry {
  const manifestPath = join(synthesized.outdir, `${synthesized.stack.artifactId}.assets.json`)
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { dockerImages?: Record<string, DockerImageAssetEntry> }
  const images = Object.values(manifest.dockerImages ?? {})
  assert.equal(images.length, 1, 'the stack has one Docker image asset')
  return images[0] as DockerImageAssetEntry
}

function stagedFiles (synthesized: Synthesized): string[] {
  return listFiles(join(synthesized.outdir, dockerImageAsset(synthesized).source.directory))
}

describe('image built from a Dockerfile', () => {
  let synthesized: Synthesized

  before(() => {
    // Synthesis must not run Docker. If it tried, this missing executable
    // would make it fail.
    const savedDocker = process.env.CDK_DOCKER
    process.env.CDK_DOCKER = join(tmpdir(), 'notes-sync-missing-docker', 'docker')
    try {
      synthesized = synthesize({}, createBuildContext())
    } finally {
      if (savedDocker === undefined) delete process.env.CDK_DOCKER
      else process.env.CDK_DOCKER = savedDocker
    }
  })

  test('asset synthesizes without Docker', () => {
    const asset = dockerImageAsset(synthesized)
    assert.equal(asset.source.platform, 'linux/amd64')
    const image = onlyResource(synthesized.template, 'AWS::ECS::TaskDefinition').resource.Properties.ContainerDefinitions[0].Image
    assert.ok('Fn::Sub' in image, `image refers to the bootstrap ECR repository: ${JSON.stringify(image)}`)
    assert.match(image['Fn::Sub'], /cdk-hnb659fds-container-assets-/)
  })

  test('build context leaves out excluded paths', () => {
    assert.deepEqual(stagedFiles(synthesized), [
      '.dockerignore',
      'Dockerfile',
      'package.json',
      'src/server.ts',
    ])
  })
})

const rootDockerfile = join(REPO_ROOT, 'Dockerfile')

test('repository root as build context', { skip: !existsSync(rootDockerfile) && 'no Dockerfile at the repository root' }, () => {
  const staged = stagedFiles(synthesize({}))
  assert.ok(staged.includes('Dockerfile'))
  assert.ok(staged.includes('package.json'))
  for (const excluded of ['deploy/', 'node_modules/', '.git/', 'dist/']) {
    assert.deepEqual(staged.filter((path) => path.startsWith(excluded)), [], `${excluded} is not staged`)
  }
})
