/*
 * Certificate serial numbers: 16 random bytes (CA/B Forum asks for ≥ 64 bits of CSPRNG output;
 * we keep 127), encoded as a positive, minimal DER INTEGER content.
 */
import { randomFillSync } from 'node:crypto'
import { toBuffer } from './der.js'
import { normalizeSerialHex } from './names.js'

export const SERIAL_BYTES = 16

/**
 * A fresh serial: 16 bytes whose top bit is cleared (so the INTEGER is positive without a 00
 * pad) and whose first byte is never zero (so the encoding stays 16 bytes, i.e. minimal DER, and
 * never loses entropy to a shorter value).
 */
export function newSerial(): Uint8Array {
  const bytes = takeRandom(SERIAL_BYTES)
  bytes[0] &= 0x7f
  while (bytes[0] === 0) bytes[0] = takeRandom(1)[0] & 0x7f
  return bytes
}

/* CSPRNG output drawn in 4 KiB batches (one system call per 256 serials); each caller gets a
 * copy, and consumed bytes are zeroed so they are never handed out twice. */
const pool = new Uint8Array(4096)
let poolOffset = pool.length

function takeRandom(n: number): Uint8Array {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const out = pool.slice(poolOffset, poolOffset + n)
  pool.fill(0, poolOffset, poolOffset + n)
  poolOffset += n
  return out
}

/**
 * Lowercase hex of the serial's positive integer value (leading zero bytes dropped), the form
 * stored and searched (`normalizeSerialHex` gives the same form for user input).
 */
export function serialHex(serial: Uint8Array): string {
  let start = 0
  while (start < serial.length - 1 && serial[start] === 0) start++
  return toBuffer(serial).subarray(start).toString('hex')
}

/** Serial bytes (big-endian magnitude) from hex in any of the forms `normalizeSerialHex` accepts. */
export function serialFromHex(input: string): Uint8Array {
  return new Uint8Array(Buffer.from(normalizeSerialHex(input), 'hex'))
}
