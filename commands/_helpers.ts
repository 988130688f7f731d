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

/** plugin:enable / plugin:disable: sets the state, waits for the running nodes, says so. */
export async function switchPlugin(command: BaseCommand, id: string, enabled: boolean) {
  await runCommand(command, async () => {
    const { pluginHost } = await import('#plugins/host')
    const { cliActor } = await import('#services/actor')
    const { changed, generation } = await pluginHost.setEnabled(id, enabled, cliActor())
    const nodes = await pluginHost.waitForNodes(generation)
    const word = enabled ? 'enabled' : 'disabled'
    const state = changed ? word : `already ${word}`
    const ack = nodes.pending
      ? `; ${nodes.pending} server node(s) did not confirm within 2 s (each applies it within a second)`
      : nodes.acknowledged
        ? `; applied on ${nodes.acknowledged} running server node(s)`
        : ''
    out(`${id}: ${state}${ack}`)
  })
}
