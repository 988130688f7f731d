/*
 * Shared plumbing for the kernel's ace commands (files starting with "_" are not commands).
 * Errors become one line on stderr and exit code 1; results go to stdout only.
 */
import { readFile } from 'node:fs/promises'
import type { BaseCommand } from '@adonisjs/core/ace'

export async function runCommand(command: BaseCommand, fn: () => Promise<void>) {
  try {
    await fn()
  } catch (error: any) {
    const message = error?.message ?? String(error)
    command.logger.error(message)
    command.exitCode = 1
  }
}

export async function readInputFile(path: string, what: string) {
  try {
    return await readFile(path === '-' ? '/dev/stdin' : path, 'utf8')
  } catch (error: any) {
    throw new Error(
      `Cannot read the ${what} file "${path}": ${error?.code === 'ENOENT' ? 'no such file' : error?.message}`
    )
  }
}

export function out(text: string) {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n')
}
