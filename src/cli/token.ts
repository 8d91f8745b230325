// Entry script of `npm run token -- <userId>`; the logic is in commands.ts.
import { processOutput, tokenCommand } from './commands.js'

process.exitCode = await tokenCommand(process.argv.slice(2), process.env, processOutput)
