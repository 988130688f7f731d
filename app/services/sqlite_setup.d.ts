/** Types of sqlite_setup.js (plain JavaScript: the store worker loads it without the TS loader). */
export declare const STATEMENT_CACHE: number
export declare function setUpConnection(conn: unknown): void
export declare function cacheStatements(conn: unknown): void
