/*
 * The admin UI's extension registry: navigation entries, CA and template tabs, and page
 * fragments that plugins add through the contract. The kernel owns the layout, the <form>,
 * CSRF and error display; a plugin contributes entries and renders fragments only.
 * Each entry carries `isActive`, which the plugin host ties to the plugin's enabled state, so a
 * disabled plugin's entries disappear at once.
 */
import type { Actor } from '#services/actor'

export interface NavEntry {
  owner: string
  /** Group heading in the side navigation (a plugin's name, e.g. "ACME"). */
  group: string
  label: string
  href: string
  order?: number
  adminOnly?: boolean
  isActive: () => boolean
}

export interface TabRenderContext {
  actor: Actor
  caId: number
  /** The template id for template tabs, the CA id for CA tabs. */
  scopeId: number
}

export interface TabEntry {
  owner: string
  scope: 'template' | 'ca'
  /** Unique within the scope, e.g. "acme". */
  id: string
  label: string
  order?: number
  isActive: () => boolean
  /** Renders the tab's HTML fragment (settings fields are rendered by the kernel). */
  render?: (ctx: TabRenderContext) => string | Promise<string>
}

/** Where a page fragment goes: the kernel pages offer these zones. */
export type FragmentZone =
  'dashboard.after' | 'ca.details.after' | 'template.menu' | 'certificate.details.after'

export interface FragmentEntry {
  owner: string
  zone: FragmentZone
  order?: number
  isActive: () => boolean
  render: (ctx: { actor: Actor; caId?: number; objectId?: number }) => string | Promise<string>
}

const navEntries: NavEntry[] = []
const tabEntries: TabEntry[] = []
const fragmentEntries: FragmentEntry[] = []

function add<T>(list: T[], entry: T) {
  list.push(entry)
  return () => {
    const i = list.indexOf(entry)
    if (i >= 0) list.splice(i, 1)
  }
}

export const uiRegistry = {
  addNav: (entry: NavEntry) => add(navEntries, entry),
  addTab: (entry: TabEntry) => add(tabEntries, entry),
  addFragment: (entry: FragmentEntry) => add(fragmentEntries, entry),

  /** Plugin navigation groups visible to this actor, in order. */
  nav(actor: Actor) {
    const groups = new Map<string, Array<{ label: string; href: string; owner: string }>>()
    const visible = navEntries
      .filter((e) => e.isActive() && (!e.adminOnly || actor.isAdmin))
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
    for (const e of visible) {
      const list = groups.get(e.group) ?? []
      list.push({ label: e.label, href: e.href, owner: e.owner })
      groups.set(e.group, list)
    }
    return [...groups.entries()].map(([group, items]) => ({ group, items }))
  },

  tabs(scope: 'template' | 'ca') {
    return tabEntries
      .filter((e) => e.scope === scope && e.isActive())
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
  },

  async fragments(zone: FragmentZone, ctx: Parameters<FragmentEntry['render']>[0]) {
    const list = fragmentEntries
      .filter((e) => e.zone === zone && e.isActive())
      .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
    const out: string[] = []
    for (const e of list) {
      try {
        out.push(await e.render(ctx))
      } catch {
        out.push(`<p class="muted">The ${e.owner} plugin could not render this part.</p>`)
      }
    }
    return out.join('\n')
  },
}
