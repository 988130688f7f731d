/* Column options for JSON stored as TEXT (portable across SQLite and PostgreSQL). */
export const jsonColumn = {
  prepare: (value: unknown) => JSON.stringify(value ?? null),
  consume: (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value),
}

/* Binary columns come back as Buffer from both drivers. */
export const binaryColumn = {
  consume: (value: unknown) =>
    value === null || value === undefined ? null : Buffer.from(value as Uint8Array),
}

export const now = () => Date.now()
