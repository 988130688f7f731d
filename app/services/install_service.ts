/*
 * First start and every start: the master key check and the bootstrap announcement.
 */
import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import pkiConfig from '#config/pki'
import { StartupError } from '#exceptions/startup_error'
import { loadMasterKey } from './master_key.js'
import { bootstrapService } from './token_service.js'

const CANARY = 'master_key_canary'

/**
 * Refuses to run with a master key that did not encrypt this install's keys: the canary (a
 * value encrypted at first start) must decrypt. The error says what to do.
 */
export async function checkMasterKey() {
  const { ring } = loadMasterKey()
  let row = await db.from('kernel_meta').where('key', CANARY).first()
  if (!row) {
    try {
      await db.table('kernel_meta').insert({ key: CANARY, value: ring.makeCanary() })
      return
    } catch (error) {
      // Another node created it at the same moment: check theirs. Anything else is an error.
      row = await db.from('kernel_meta').where('key', CANARY).first()
      if (!row) throw error
    }
  }
  if (!ring.checkCanary(row.value)) {
    throw new StartupError(
      'The master key does not match this install: it cannot decrypt the key check stored in the database. ' +
        'Start the server with the master key this install was created with (PKI_MASTER_KEY or PKI_MASTER_KEY_FILE); ' +
        'when rotating, give the old key in PKI_PREVIOUS_MASTER_KEYS and run `node ace key:rotate`.'
    )
  }
}

export async function announceInstall() {
  // Server processes started after the first by WEB_CONCURRENCY (bin/start.js) stay quiet:
  // a new token from each would replace the one the first printed.
  if (process.env.PKI_ANNOUNCE === '0') return
  const { created, path } = loadMasterKey()
  if (created) {
    logger.warn(
      `Generated a new master key in ${path} (owner-only). Back it up: without it the CA keys cannot be decrypted. Give every node the same key (PKI_MASTER_KEY or PKI_MASTER_KEY_FILE).`
    )
  }
  const started = await bootstrapService.startToken()
  if (started?.issuedElsewhere) {
    // Several nodes started a fresh install at once: the one that issued the token printed it.
    process.stdout.write(
      '\nNo administrator exists yet. Another node (or a start less than 30 seconds ago) printed the one-time bootstrap token: look for it in that output, or start this node again after 30 seconds for a new one.\n\n'
    )
  }
  const token = started?.token
  if (token) {
    const lines = [
      '',
      'No administrator exists yet. Create the first one with this one-time bootstrap token:',
      `  token: ${token}`,
      `  in a browser: ${pkiConfig.publicUrl}/setup?token=${token}`,
      `  curl -X POST ${pkiConfig.publicUrl}/api/v1/bootstrap -H 'content-type: application/json' -d '{"token":"${token}","email":"you@example.com"}'`,
      '',
    ]
    // Printed to stdout (not only the log) so an operator starting the server sees it.
    process.stdout.write(lines.join('\n') + '\n')
  }
}
