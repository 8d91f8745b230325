import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_STACK_NAME, DeployConfigError, readDeployConfig } from '../lib/config.js'

const REPO_ROOT = '/repo'

function read (context: Record<string, unknown>) {
  return readDeployConfig((key) => context[key], REPO_ROOT)
}

function problemsOf (context: Record<string, unknown>): readonly string[] {
  try {
    read(context)
  } catch (error) {
    assert.ok(error instanceof DeployConfigError, `expected a DeployConfigError, got ${String(error)}`)
    return error.problems
  }
  assert.fail('expected readDeployConfig to throw')
}

test('empty context builds the image asset', () => {
  assert.deepEqual(read({}), {
    stackName: DEFAULT_STACK_NAME,
    image: { kind: 'asset', directory: REPO_ROOT },
    existingUserPool: undefined,
    certificateArn: undefined,
  })
})

test('full context is read', () => {
  const certificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666'
  assert.deepEqual(read({
    stackName: 'NotesSyncStaging',
    imageUri: 'ghcr.io/example/notes-sync:1.0.0',
    userPoolId: 'eu-west-1_AbC123xyz',
    clientId: '4example5client6id7abcdefgh',
    certificateArn,
  }), {
    stackName: 'NotesSyncStaging',
    image: { kind: 'uri', uri: 'ghcr.io/example/notes-sync:1.0.0' },
    existingUserPool: { userPoolId: 'eu-west-1_AbC123xyz', clientId: '4example5client6id7abcdefgh' },
    certificateArn,
  })
})

test('user pool id without client id', () => {
  const problems = problemsOf({ userPoolId: 'eu-west-1_AbC123xyz' })
  assert.equal(problems.length, 1)
  assert.match(problems[0] ?? '', /^clientId is missing/)
})

test('client id without user pool id', () => {
  const problems = problemsOf({ clientId: '4example5client6id7abcdefgh' })
  assert.equal(problems.length, 1)
  assert.match(problems[0] ?? '', /^userPoolId is missing/)
})

test('invalid values are all listed', () => {
  const problems = problemsOf({
    stackName: '1-starts-with-a-digit',
    imageUri: 'has a space',
    userPoolId: 'not-a-pool-id',
    clientId: 'not-a-client-id!',
    certificateArn: 'arn:aws:iam::123456789012:role/not-a-certificate',
  })
  assert.deepEqual(problems.map((problem) => problem.split(' ')[0]), [
    'stackName',
    'imageUri',
    'userPoolId',
    'clientId',
    'certificateArn',
  ])
  assert.match(problems[2] ?? '', /"not-a-pool-id".*eu-west-1_AbC123xyz/)
})

test('non-string context value', () => {
  const problems = problemsOf({ imageUri: 42 })
  assert.deepEqual(problems, [
    'imageUri is invalid (42); expected an image URI without spaces, such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/notes-sync:1.0.0.',
  ])
})
