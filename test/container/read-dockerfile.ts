// Helpers for the container tests: read the repository's Dockerfile into
// build stages with dockerfile-ast. This file defines no tests.
import { readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  DockerfileParser,
  type Copy,
  type From,
  type ImageTemplate,
  type Instruction,
} from 'dockerfile-ast'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
export const dockerfilePath = join(repoRoot, 'Dockerfile')

export interface Stage {
  /** Name from `FROM image AS name`, or the stage index as a string. */
  readonly name: string
  readonly from: From
  readonly instructions: Instruction[]
  /** Instructions after FROM, in order. */
  readonly body: Instruction[]
  /** WORKDIR in effect at the end of the stage (Docker's default is "/"). */
  readonly workdir: string
  readonly template: ImageTemplate
}

export interface ParsedDockerfile {
  readonly text: string
  readonly stages: Stage[]
  readonly finalStage: Stage
  stage (name: string): Stage
}

/** Parses the repository's Dockerfile and splits it into build stages. */
export function readDockerfile (path = dockerfilePath): ParsedDockerfile {
  const text = readFileSync(path, 'utf8')
  const dockerfile = DockerfileParser.parse(text)

  const stages = dockerfile.getFROMs().map((from, index): Stage => {
    const template = dockerfile.getContainingImage(from.getRange().start)
    if (template === null) throw new Error(`FROM on line ${from.getRange().start.line + 1} has no stage`)
    const instructions = template.getInstructions()
    let workdir = '/'
    for (const instruction of instructions) {
      if (instruction.getKeyword() === 'WORKDIR') {
        workdir = posix.resolve(workdir, instruction.getArgumentsContent() ?? '')
      }
    }
    return {
      name: from.getBuildStage() ?? String(index),
      from,
      instructions,
      body: instructions.filter((instruction) => instruction !== from),
      workdir,
      template,
    }
  })

  const finalStage = stages.at(-1)
  if (finalStage === undefined) throw new Error(`${path} has no FROM instruction`)

  return {
    text,
    stages,
    finalStage,
    stage (name: string) {
      const found = stages.find((stage) => stage.name === name)
      if (found === undefined) throw new Error(`Dockerfile has no stage named "${name}"`)
      return found
    },
  }
}

/** Returns the instructions of a stage with the given keyword. */
export function instructionsOf (stage: Stage, keyword: string): Instruction[] {
  return stage.body.filter((instruction) => instruction.getKeyword() === keyword.toUpperCase())
}

/**
 * Returns the shell commands of a stage's RUN instructions, split on `&&`
 * and with line continuations joined, for example "npm ci --omit=dev".
 */
export function runCommands (stage: Stage): string[] {
  return instructionsOf(stage, 'RUN')
    .flatMap((run) => (run.getArgumentsContent() ?? '').split('&&'))
    .map((command) => command.replace(/\s+/g, ' ').trim())
    .filter((command) => command.length > 0)
}

/**
 * Parses the exec form (a JSON array) of CMD, ENTRYPOINT or the command part
 * of HEALTHCHECK CMD. Returns null for the shell form.
 */
export function execForm (instruction: Instruction): string[] | null {
  let content = (instruction.getArgumentsContent() ?? '').trim()
  if (instruction.getKeyword() === 'HEALTHCHECK') {
    content = content.replace(/^CMD\s+/i, '')
  }
  if (!content.startsWith('[')) return null
  const parsed: unknown = JSON.parse(content)
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) return null
  return parsed
}

export interface CopyStep {
  /** Stage name from --from, or null for the build context. */
  readonly fromStage: string | null
  readonly sources: string[]
  readonly destination: string
  readonly instruction: Copy
}

/** Returns the COPY instructions of a stage with their sources and destination. */
export function copySteps (stage: Stage): CopyStep[] {
  return stage.template.getCOPYs().map((copy) => {
    const paths = copy.getArguments().map((argument) => argument.getValue())
    const destination = paths.pop()
    if (destination === undefined || paths.length === 0) {
      throw new Error(`COPY on line ${copy.getRange().start.line + 1} needs a source and a destination`)
    }
    return {
      fromStage: copy.getFromFlag()?.getValue() ?? null,
      sources: paths,
      destination,
      instruction: copy,
    }
  })
}
