/*
 * Per-CA access: install administrators reach every CA; other users reach the CAs they own or
 * were delegated (ca_members).
 */
import db from '@adonisjs/lucid/services/db'
import { notFound } from '#exceptions/kernel_error'
import type { Actor } from './actor.js'

export async function accessibleCaIds(actor: Actor): Promise<number[] | null> {
  if (actor.isAdmin) return null
  if (!actor.userId) return []
  const rows = await db.from('ca_members').where('user_id', actor.userId).select('ca_id')
  return rows.map((r: any) => Number(r.ca_id))
}

export async function assertCaAccess(actor: Actor, caId: number) {
  if (actor.isAdmin) return
  const row = actor.userId
    ? await db.from('ca_members').where({ ca_id: caId, user_id: actor.userId }).first()
    : undefined
  // Same answer as a missing CA: do not reveal which CAs exist.
  if (!row) throw notFound('CA', caId)
}
