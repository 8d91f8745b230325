// Entry script of `npm run create-table`; the logic is in commands.ts.
import { createTableCommand, processOutput } from './commands.js'

process.exitCode = await createTableCommand(process.env, processOutput)
