/**
 * Deployment settings read from CDK context (`cdk deploy -c key=value`, or
 * the `context` block of cdk.json). Every key is optional:
 *
 * - `stackName`: CloudFormation stack name, default `NotesSync`.
 * - `imageUri`: an existing image (for example an ECR URI with a tag or
 *   digest). Without it the image is built from the Dockerfile at the
 *   repository root during `cdk deploy`, which needs Docker.
 * - `userPoolId` and `clientId`: an existing Cognito user pool and app client.
 *   Give both or neither. Without them the stack creates a pool and a client.
 * - `certificateArn`: an ACM certificate in the stack's region. With it the
 *   load balancer serves HTTPS on 443 and redirects HTTP on 80 to it.
 */

export const DEFAULT_STACK_NAME = 'NotesSync'

/** Source of the container image that the service runs. */
export type ImageSource =
  | { readonly kind: 'asset', readonly directory: string }
  | { readonly kind: 'uri', readonly uri: string }

/** Ids of a Cognito user pool and app client that the stack does not manage. */
export interface ExistingUserPool {
  readonly userPoolId: string
  readonly clientId: string
}

export interface DeployConfig {
  readonly stackName: string
  readonly image: ImageSource
  readonly existingUserPool: ExistingUserPool | undefined
  readonly certificateArn: string | undefined
}

/** Context lookup, such as `(key) => app.node.tryGetContext(key)`. */
export type ContextReader = (key: string) => unknown

// The two Cognito patterns are the ones the service applies to
// COGNITO_USER_POOL_ID and COGNITO_CLIENT_ID at startup (src/config.ts), so a
// value that passes here also passes there.
const USER_POOL_ID = /^[a-z]{2}(-[a-z]+)+-\d+_[0-9A-Za-z]+$/
const CLIENT_ID = /^[0-9A-Za-z]+$/
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/
const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/
const IMAGE_URI = /^\S+$/

/** Invalid deployment context: lists every invalid key at once. */
export class DeployConfigError extends Error {
  readonly problems: readonly string[]

  constructor (problems: readonly string[]) {
    super(`Invalid deployment context:\n  - ${problems.join('\n  - ')}`)
    this.name = 'DeployConfigError'
    this.problems = problems
  }
}

/**
 * Reads and validates the deployment context. `repoRoot` is the folder that
 * contains the service's Dockerfile, used when no `imageUri` is given.
 * Throws a DeployConfigError that names each invalid key.
 */
export function readDeployConfig (readContext: ContextReader, repoRoot: string): DeployConfig {
  const problems: string[] = []

  function readString (key: string, pattern: RegExp, example: string): string | undefined {
    const value = readContext(key)
    if (value === undefined) return undefined
    if (typeof value !== 'string' || !pattern.test(value)) {
      problems.push(`${key} is invalid (${JSON.stringify(value)}); expected ${example}.`)
      return undefined
    }
    return value
  }

  const stackName = readString('stackName', STACK_NAME, 'a letter followed by up to 127 letters, digits or "-"')
  const imageUri = readString('imageUri', IMAGE_URI, 'an image URI without spaces, such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/notes-sync:1.0.0')
  const userPoolId = readString('userPoolId', USER_POOL_ID, 'a user pool id such as eu-west-1_AbC123xyz')
  const clientId = readString('clientId', CLIENT_ID, 'an app client id (letters and digits)')
  const certificateArn = readString('certificateArn', CERTIFICATE_ARN, 'an ACM certificate ARN')

  const poolGiven = readContext('userPoolId') !== undefined
  const clientGiven = readContext('clientId') !== undefined
  if (poolGiven !== clientGiven) {
    const missing = poolGiven ? 'clientId' : 'userPoolId'
    problems.push(`${missing} is missing; an existing user pool needs both userPoolId and clientId, or give neither to create them.`)
  }

  if (problems.length > 0) throw new DeployConfigError(problems)

  return {
    stackName: stackName ?? DEFAULT_STACK_NAME,
    image: imageUri === undefined
      ? { kind: 'asset', directory: repoRoot }
      : { kind: 'uri', uri: imageUri },
    existingUserPool: userPoolId !== undefined && clientId !== undefined
      ? { userPoolId, clientId }
      : undefined,
    certificateArn,
  }
}
