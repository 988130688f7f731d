/*
 * EAB credentials. The HMAC key must be recoverable (the server recomputes the MAC), so it is
 * kept as a kernel secret (runtime.secrets: encrypted under the master key, re-encrypted by
 * key:rotate); acme_eabs.hmac_key holds only the handle.
 */
import { randomBytes } from 'node:crypto'
import type { PluginRuntime } from '#plugin-api'

/**
 * A new KID (random, URL-safe) and HMAC key (256 bits, unpadded base64url). Neither starts with
 * "-": certbot (argparse) reads `--eab-kid -Ab3…` as a missing value, and the key is shown once.
 */
export function newEabCredentials() {
  return { kid: randomText(18), hmacKey: randomText(32) }
}

function randomText(bytes: number): string {
  for (;;) {
    const text = randomBytes(bytes).toString('base64url')
    if (!text.startsWith('-')) return text
  }
}

export function sealHmacKey(runtime: PluginRuntime, hmacKey: string): Promise<string> {
  return runtime.secrets.put(hmacKey)
}

/** The HMAC key bytes (the base64url text decoded); null when the secret is gone. */
export async function openHmacKey(runtime: PluginRuntime, handle: string): Promise<Buffer | null> {
  const text = await runtime.secrets.get(handle)
  return text === null ? null : Buffer.from(text, 'base64url')
}

export function dropHmacKey(runtime: PluginRuntime, handle: string): Promise<void> {
  return runtime.secrets.delete(handle)
}
