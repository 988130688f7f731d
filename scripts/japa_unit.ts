/*
 * Runs unit spec files without booting the application (for pure modules: hsm/, app/pki/).
 * Usage: node --import=ts-node-maintained/register/esm scripts/japa_unit.ts tests/unit/hsm/x.spec.ts
 */
import { configure, processCLIArgs, run } from '@japa/runner'
import { assert } from '@japa/assert'

processCLIArgs(process.argv.splice(2))
configure({
  files: ['tests/unit/**/*.spec.ts'],
  plugins: [assert()],
})
run()
