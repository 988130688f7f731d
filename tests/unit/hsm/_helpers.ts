/*
 * Shared helpers for the hsm/ unit specs (not a spec itself).
 */
import { existsSync } from 'node:fs'
import { SignerError } from '../../../hsm/types.js'
import { repoRoot, run } from '../../helpers/external.js'
import { join } from 'node:path'

type Code = SignerError['code']

function check(err: unknown, code: Code, message?: RegExp): SignerError {
  if (!(err instanceof SignerError)) {
    throw new Error(
      `expected SignerError ${code}, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`
    )
  }
  if (err.code !== code) throw new Error(`expected ${code}, got ${err.code}: ${err.message}`)
  if (message && !message.test(err.message))
    throw new Error(`message "${err.message}" does not match ${message}`)
  return err
}

/** Runs fn, which must throw SignerError with `code` (and a message matching `message`). */
export function expectSignerError(fn: () => unknown, code: Code, message?: RegExp): SignerError {
  try {
    fn()
  } catch (err) {
    return check(err, code, message)
  }
  throw new Error(`expected SignerError ${code}, but nothing was thrown`)
}

export async function expectSignerRejection(
  fn: () => Promise<unknown>,
  code: Code,
  message?: RegExp
): Promise<SignerError> {
  try {
    await fn()
  } catch (err) {
    return check(err, code, message)
  }
  throw new Error(`expected SignerError ${code}, but the promise resolved`)
}

/** Runs the system OpenSSL (3.0); throws with its stderr on a non-zero exit. */
export async function openssl(args: string[], input?: string | Buffer): Promise<string> {
  const r = await run('/usr/bin/openssl', args, { input })
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
  return r.stdout
}

/**
 * OpenSSL 3.5 (knows ML-DSA and SLH-DSA), from scripts/install-test-tools.sh or OPENSSL35_BIN.
 * npm test installs it first (scripts/install-test-tools.sh).
 */
export const openssl35Bin: string = (() => {
  const candidates = [process.env.OPENSSL35_BIN, join(repoRoot, '.tools', 'bin', 'openssl35')]
  const found = candidates.find((p): p is string => !!p && existsSync(p))
  // npm test installs it first; a missing tool is a failure, never a skipped check.
  if (!found) throw new Error('OpenSSL 3.5 is not installed: run scripts/install-test-tools.sh')
  return found
})()
