/** Types of batch_statements.js (plain JavaScript: the store worker loads it without the TS loader). */
export declare function resolveRefs(
  bindings: unknown[],
  results: { rows?: Record<string, unknown>[]; lastId: number | null }[]
): unknown[]
export declare function checkExpectation(
  index: number,
  changes: number,
  expect: number | undefined | null
): void
export declare function insertedRowid(
  sql: string,
  info: { changes: number; lastInsertRowid: number | bigint }
): number | null
