/*
 * Deletes the rows a query selects in small batches, so each write transaction stays short and
 * issuance is never stalled behind a purge (expired certificates, old service log entries).
 */
import db from '@adonisjs/lucid/services/db'
import type { DatabaseQueryBuilderContract } from '@adonisjs/lucid/types/querybuilder'

/**
 * `select(q)` narrows a query on `table` to the rows to delete (its `id` column is read).
 * Returns how many rows were deleted.
 */
export async function deleteInBatches(
  table: string,
  select: (q: DatabaseQueryBuilderContract) => DatabaseQueryBuilderContract,
  batchSize: number
): Promise<number> {
  let total = 0
  for (;;) {
    const rows = await select(db.from(table)).select('id').limit(batchSize)
    if (rows.length === 0) break
    // The selection again on the delete: a row that changed since it was read (a certificate
    // revoked meanwhile, which a CRL must still list) is kept.
    const deleted = await select(db.from(table))
      .whereIn(
        'id',
        rows.map((r: any) => r.id)
      )
      .delete()
    total += Number(deleted)
    if (rows.length < batchSize) break
  }
  return total
}
