import { Template } from 'aws-cdk-lib/assertions'
import type { CloudAssembly } from 'aws-cdk-lib/cx-api'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNotesSyncApp, REPO_ROOT } from '../../lib/app.js'
import type { NotesSyncStack } from '../../lib/notes-sync-stack.js'

/** An ECR image, so that synthesis needs no Dockerfile. */
export const ECR_IMAGE_URI = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/notes-sync:1.0.0'

/** The context block of cdk.json, so the tests synthesize with the deployed feature flags. */
const CDK_JSON_CONTEXT = (JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
) as { context: Record<string, unknown> }).context

export interface Synthesized {
  readonly stack: NotesSyncStack
  readonly assembly: CloudAssembly
  readonly template: Template
  readonly outdir: string
}

const outdirs: string[] = []

/**
 * Synthesizes the app offline into a fresh temporary folder, with the
 * context of cdk.json plus `context`. `repoRoot` is the image build context
 * when `context` has no imageUri.
 */
export function synthesize (
  context: Record<string, unknown> = { imageUri: ECR_IMAGE_URI },
  repoRoot: string = REPO_ROOT,
): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'notes-sync-cdk-'))
  outdirs.push(outdir)
  const { app, stack } = createNotesSyncApp({ outdir, context: { ...CDK_JSON_CONTEXT, ...context } }, repoRoot)
  const assembly = app.synth()
  return { stack, assembly, template: Template.fromStack(stack), outdir }
}

/** Deletes every folder that synthesize() created. */
export function removeSynthOutput (): void {
  for (const outdir of outdirs.splice(0)) rmSync(outdir, { recursive: true, force: true })
}

/** Returns the one resource of `type` in the template, with its logical id. */
export function onlyResource (template: Template, type: string): { id: string, resource: Record<string, any> } {
  const resources = Object.entries(template.findResources(type))
  if (resources.length !== 1) {
    throw new Error(`expected exactly one ${type}, found ${resources.length}`)
  }
  const [id, resource] = resources[0] as [string, Record<string, any>]
  return { id, resource }
}
