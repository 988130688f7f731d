/** Types of sqlite_setup.js (plain JavaScript: the store worker loads it without the TS loader). */
export declare function setUpConnection(conn: unknown): void
