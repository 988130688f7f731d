/*
 * Route file placeholder; filled in by its area's change.
 */
export {}
