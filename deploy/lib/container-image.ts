import { IgnoreMode } from 'aws-cdk-lib'
import { Repository } from 'aws-cdk-lib/aws-ecr'
import { Platform } from 'aws-cdk-lib/aws-ecr-assets'
import { ContainerImage } from 'aws-cdk-lib/aws-ecs'
import type { Construct } from 'constructs'
import type { ImageSource } from './config.js'

/**
 * Paths under the repository root that never go into the image build
 * context, in .dockerignore syntax. CDK adds the patterns of a .dockerignore
 * at the root to these. `deploy` must stay out because it contains cdk.out,
 * where the build context itself is staged. `.env` may contain secrets.
 */
export const IMAGE_ASSET_EXCLUDE = [
  '.git',
  '.env',
  '.data',
  '.tap',
  'coverage',
  'dist',
  'node_modules',
  'deploy',
  'cdk.out',
  '*.log',
]

/**
 * An ECR image URI. Groups: account, region, domain suffix, repository name,
 * then an optional tag or digest.
 */
const ECR_IMAGE_URI = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?)\/([a-z0-9._/-]+)(?::([\w.-]+)|@(sha256:[0-9a-f]{64}))?$/

/**
 * Returns the container image for the service.
 *
 * An asset is only staged into cdk.out at synth time; Docker builds and
 * pushes it during `cdk deploy`. Its platform is fixed to linux/amd64 to match
 * the task's CPU architecture, also when the deploy runs on an ARM machine.
 *
 * An ECR URI is imported as a repository so that the task execution role is
 * granted the pull actions on it. Any other URI is pulled as a public image.
 */
export function serviceImage (scope: Construct, source: ImageSource): ContainerImage {
  if (source.kind === 'asset') {
    return ContainerImage.fromAsset(source.directory, {
      platform: Platform.LINUX_AMD64,
      exclude: IMAGE_ASSET_EXCLUDE,
      ignoreMode: IgnoreMode.DOCKER,
    })
  }

  const match = ECR_IMAGE_URI.exec(source.uri)
  if (match === null) return ContainerImage.fromRegistry(source.uri)

  // The first four groups always match; the defaults only satisfy the types.
  const [, account = '', region = '', domain = '', repositoryName = '', tag, digest] = match
  const partition = domain.endsWith('.cn') ? 'aws-cn' : 'aws'
  const repository = Repository.fromRepositoryAttributes(scope, 'ImageRepository', {
    repositoryArn: `arn:${partition}:ecr:${region}:${account}:repository/${repositoryName}`,
    repositoryName,
  })
  return ContainerImage.fromEcrRepository(repository, tag ?? digest ?? 'latest')
}
