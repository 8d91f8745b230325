import { App, type AppProps } from 'aws-cdk-lib'
import { fileURLToPath } from 'node:url'
import { readDeployConfig } from './config.js'
import { NotesSyncStack } from './notes-sync-stack.js'

/** Repository root: the folder with the service's Dockerfile. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * Creates the CDK app and its one stack from the app's context. `repoRoot` is
 * the image build context when the context gives no `imageUri`.
 *
 * The stack has no `env`, so it is environment-agnostic. The app makes no
 * AWS call during synthesis (no account or availability-zone lookups), and
 * `cdk deploy` takes the account and region from the credentials in use.
 */
export function createNotesSyncApp (
  props: AppProps = {},
  repoRoot: string = REPO_ROOT,
): { app: App, stack: NotesSyncStack } {
  const app = new App(props)
  const config = readDeployConfig((key) => app.node.tryGetContext(key), repoRoot)
  const stack = new NotesSyncStack(app, config.stackName, {
    description: 'notes-sync: sync service for offline-first notes apps on ECS/Fargate, DynamoDB and Cognito',
    image: config.image,
    existingUserPool: config.existingUserPool,
    certificateArn: config.certificateArn,
  })
  return { app, stack }
}
