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
export async function exitOnStartupError(
  error: unknown,
  pretty: (error: unknown) => unknown
): Promise<never> {
  if (error instanceof Error && error.name === 'StartupError') {
    process.stderr.write(`Cannot start: ${error.message}\n`)
  } else if ((error as { code?: string })?.code === 'E_INVALID_ENV_VARIABLES') {
    // A setting in the environment or .env is wrong: which one, and why (no stack trace).
    process.stderr.write(
      `Cannot start: a setting is invalid.\n${(error as { help?: string }).help ?? ''}\n`
    )
  } else {
    // The printer is asynchronous: exiting before it finished printed nothing at all.
    await pretty(error)
  }
  process.exit(1)
}
