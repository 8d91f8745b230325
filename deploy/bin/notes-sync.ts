// CDK app entry point, run by the CDK CLI (see "app" in cdk.json). The CLI
// sets CDK_OUTDIR, so the app synthesizes on exit without an explicit call.
import { createNotesSyncApp } from '../lib/app.js'

createNotesSyncApp()
