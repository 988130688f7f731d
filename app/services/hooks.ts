/*
 * Kernel hook points. The issuance and revocation cycles call these at fixed places (see
 * docs/issuance-cycle.md). The plugin host registers plugin handlers here; kernel code never
 * knows which plugins exist. Kinds follow the architecture guide:
 *   series    — handlers run one after another; an exception vetoes (validateIssue, beforeRevoke)
 *               or modifies a draft in place (beforeIssue, onPrecertificate)
 *   parallel  — handlers run together after the fact; failures are logged, never propagated
 */
import logger from '@adonisjs/core/services/logger'
import type {
  CaEventContext,
  DraftContext,
  HookContexts,
  IssueContext,
  IssuedContext,
  RevokeContext,
  TemplateEventContext,
} from '#plugins/contract'

/* The hook contexts are part of the plugin contract: one definition, shared with plugins. */
export type {
  CaEventContext,
  DraftContext,
  IssueContext,
  IssuedContext,
  RevokeContext,
  TemplateEventContext,
}

export type HookMap = HookContexts

export type HookName = keyof HookMap

export const HOOK_KINDS: Record<HookName, 'series' | 'parallel'> = {
  validateIssue: 'series',
  beforeIssue: 'series',
  onPrecertificate: 'series',
  afterIssue: 'parallel',
  beforeRevoke: 'series',
  afterRevoke: 'parallel',
  afterUnrevoke: 'parallel',
  afterCaCreated: 'parallel',
  afterCaUpdated: 'parallel',
  afterCaDeleted: 'parallel',
  afterTemplateUpdated: 'parallel',
  beforeTemplateDelete: 'series',
  afterTemplateDeleted: 'parallel',
}

export interface HookRegistration<K extends HookName> {
  owner: string
  order: number
  timeoutMs: number
  /** Checked before each call: lets the plugin host switch a disabled plugin's hooks off. */
  isActive: () => boolean
  handler: (ctx: HookMap[K]) => unknown | Promise<unknown>
}

class HookTimeout extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new HookTimeout(`${label} did not answer within ${ms} ms`)),
        ms
      )
      timer.unref()
    }),
  ]).finally(() => clearTimeout(timer))
}

export class KernelHooks {
  #handlers = new Map<HookName, HookRegistration<any>[]>()

  register<K extends HookName>(
    name: K,
    registration: Omit<HookRegistration<K>, 'order' | 'timeoutMs' | 'isActive'> &
      Partial<HookRegistration<K>>
  ) {
    const list = this.#handlers.get(name) ?? []
    list.push({ order: 0, timeoutMs: 5000, isActive: () => true, ...registration })
    list.sort((a, b) => a.order - b.order)
    this.#handlers.set(name, list)
    return () => {
      const current = this.#handlers.get(name) ?? []
      this.#handlers.set(
        name,
        current.filter((r) => r.handler !== registration.handler)
      )
    }
  }

  has(name: HookName) {
    return (this.#handlers.get(name) ?? []).some((r) => r.isActive())
  }

  /**
   * Runs a hook. Series hooks propagate the first handler error (a veto); a handler that times
   * out in a series hook is a veto too, since its check did not happen. Parallel hooks never
   * throw: failures are logged with the owner's name.
   */
  async run<K extends HookName>(name: K, ctx: HookMap[K]): Promise<void> {
    const list = (this.#handlers.get(name) ?? []).filter((r) => r.isActive())
    if (list.length === 0) return
    if (HOOK_KINDS[name] === 'series') {
      for (const r of list) {
        await withTimeout(
          Promise.resolve().then(() => r.handler(ctx)),
          r.timeoutMs,
          `${r.owner}:${name}`
        )
      }
      return
    }
    await Promise.all(
      list.map((r) =>
        withTimeout(
          Promise.resolve().then(() => r.handler(ctx)),
          r.timeoutMs,
          `${r.owner}:${name}`
        ).catch((error) =>
          logger.error({ err: error, owner: r.owner, hook: name }, 'hook handler failed')
        )
      )
    )
  }
}

/** The process-wide hook registry. */
export const hooks = new KernelHooks()
