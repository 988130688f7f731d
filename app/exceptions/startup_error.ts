/**
 * A condition that keeps the server or a command from starting (wrong master key, database
 * unreachable...). Entry points print its message alone, on stderr, and exit with code 1.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StartupError'
  }
}

/** Prints a start-up failure for an operator and ends the process with exit code 1. */
export function exitOnStartupError(error: unknown, pretty: (error: unknown) => unknown) {
  if (error instanceof Error && error.name === 'StartupError') {
    process.stderr.write(`Cannot start: ${error.message}\n`)
  } else {
    pretty(error)
  }
  process.exit(1)
}
