/*
 * What every admin UI page's layout needs: the user, the CAs they may see, the CA the pages
 * are scoped to (the dropdown at the top), and the navigation (kernel groups, then one group per
 * enabled plugin, then Logs, Plugins, Users, Profile).
 */
import type { HttpContext } from '@adonisjs/core/http'
import db from '@adonisjs/lucid/services/db'
import { accessibleCaIds } from './access.js'
import { uiRegistry } from '#plugins/ui_registry'
import type { Actor } from './actor.js'

export interface NavItem {
  label: string
  href: string
}
export interface NavGroup {
  group: string
  items: NavItem[]
}

/** The CAs an actor may see, by name. */
export async function visibleCas(actor: Actor) {
  const ids = await accessibleCaIds(actor)
  const query = db.from('cas').select('id', 'name', 'status', 'key_type').orderBy('name')
  if (ids) query.whereIn('id', ids.length ? ids : [0])
  const rows = await query
  return rows.map((r: any) => ({
    id: Number(r.id),
    name: String(r.name),
    status: String(r.status),
    keyType: String(r.key_type),
  }))
}

export function navigation(actor: Actor): NavGroup[] {
  const groups: NavGroup[] = [
    { group: 'Overview', items: [{ label: 'Dashboard', href: '/admin' }] },
    {
      group: 'Certificate Authorities',
      items: [
        { label: 'Create New CA', href: '/admin/cas/new' },
        { label: 'Manage CAs', href: '/admin/cas' },
      ],
    },
    {
      group: 'Certificate Templates',
      items: [
        { label: 'Create Template', href: '/admin/templates/new' },
        { label: 'Manage Templates', href: '/admin/templates' },
      ],
    },
    {
      group: 'X509 Certificates',
      items: [
        { label: 'Pending Requests', href: '/admin/requests' },
        { label: 'Issued Certificates', href: '/admin/certificates' },
      ],
    },
  ]
  for (const g of uiRegistry.nav(actor)) groups.push({ group: g.group, items: g.items })
  const system: NavItem[] = [{ label: 'Logs', href: '/admin/logs' }]
  if (actor.isAdmin) {
    system.push({ label: 'Plugins', href: '/admin/plugins' })
    system.push({ label: 'Users', href: '/admin/users' })
    system.push({ label: 'Login providers', href: '/admin/login-providers' })
  }
  system.push({ label: 'Profile', href: '/admin/profile' })
  groups.push({ group: 'System', items: system })
  return groups
}

/** The navigation entry a path belongs to: the longest matching href (so /admin/cas/new is
 * "Create New CA", /admin/cas/7 is "Manage CAs"). */
export function activeHref(nav: NavGroup[], path: string): string | null {
  let best: string | null = null
  for (const item of nav.flatMap((g) => g.items)) {
    const matches =
      path === item.href || (item.href !== '/admin' && path.startsWith(item.href + '/'))
    if (matches && (!best || item.href.length > best.length)) best = item.href
  }
  return best
}

/**
 * The current CA: `?ca=ID` switches it (and is remembered in the session), otherwise the
 * session's choice, otherwise the first visible CA. A CA the user may not see is never chosen.
 */
export async function layoutData(ctx: HttpContext) {
  const actor = ctx.actor
  const cas = await visibleCas(actor)
  const asked = Number(ctx.request.qs().ca ?? ctx.session.get('caId'))
  let current = cas.find((c) => c.id === asked) ?? cas[0] ?? null
  if (current && current.id !== Number(ctx.session.get('caId'))) ctx.session.put('caId', current.id)
  if (!current) ctx.session.forget('caId')
  ctx.currentCa = current
  const nav = navigation(actor)
  const path = ctx.request.url()
  const active = activeHref(nav, path)
  return {
    me: { id: actor.userId, email: actor.label, isAdmin: actor.isAdmin },
    cas,
    currentCa: current,
    nav,
    path,
    activeHref: active,
    // The CA switcher reloads this page with ?ca=; a page shown for a POST (a form with its
    // errors) has no GET of its own, so the switcher goes to its section instead.
    switcherAction: ctx.request.method() === 'GET' ? path : (active ?? '/admin'),
    flashNotice: ctx.session.flashMessages.get('notice'),
    flashError: ctx.session.flashMessages.get('error'),
  }
}

declare module '@adonisjs/core/http' {
  interface HttpContext {
    /** The CA the admin UI page is scoped to (null when the user sees no CA). */
    currentCa: { id: number; name: string; status: string; keyType: string } | null
  }
}
