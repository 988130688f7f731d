/*
 * Admin pages (manual §8.2–§8.5), scoped to the CA chosen in the top dropdown:
 *   /admin/p/acme                       Policies (create, delete)
 *   /admin/p/acme/policies/:id/eabs     External Account Bindings of a policy (create → the KID
 *                                       and HMAC key shown once with ready-to-paste commands)
 *   /admin/p/acme/accounts[/:id]        Accounts with their orders and certificates
 * plus the ACME tab of templates. Forms are htmx (the layout sends the CSRF header).
 */
import { html, safe, type PluginRuntime, type PluginSetupApi, type RouteContext } from '#plugin-api'
import {
  createEab,
  createPolicy,
  updatePolicy,
  deleteEab,
  deletePolicy,
  directoryUrl,
  findPolicy,
  listPolicies,
  PolicyError,
  type Policy,
} from './policies.js'

const BASE = '/admin/p/acme'

type Page = { title: string; html: string }

const fmtDate = (ms: unknown) =>
  ms === null || ms === undefined
    ? '—'
    : new Date(Number(ms)).toISOString().slice(0, 16).replace('T', ' ')

function noCa(): Page {
  return {
    title: 'ACME',
    html: '<section class="card"><p class="empty">Choose a CA in the top dropdown to manage its ACME policies.</p></section>',
  }
}

function field(name: string, label: string, input: string, error?: string, hint?: string) {
  return html`<div class="field ${error ? 'has-error' : ''}">
    <label for="acme-${name}">${label}</label>${safe(input)}
    ${hint ? safe(html`<div class="hint">${hint}</div>`) : ''}
    ${error ? safe(html`<div class="error" role="alert">${error}</div>`) : ''}
  </div>`
}

function modal(title: string, body: string) {
  return html`<div class="modal-head">
      <h2 id="modal-title">${title}</h2>
      <button type="button" class="btn link" data-close-modal aria-label="Close">Close</button>
    </div>
    <div class="modal-content">${safe(body)}</div>`
}

/** A table of `rows` (each a `<tr>…</tr>`), or `empty` when there are none. A null header is an actions column. */
function dataTable(headers: Array<string | null>, rows: string[], empty: string): string {
  if (!rows.length) return html`<p class="empty">${empty}</p>`
  const head = headers.map((h) =>
    h === null
      ? '<th scope="col"><span class="sr-only">Actions</span></th>'
      : html`<th scope="col">${h}</th>`
  )
  return `<div class="table-wrap"><table><thead><tr>${head.join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`
}

/** The Create button of a page: loads its form into the modal. */
function createButton(formUrl: string) {
  return html`<div class="actions">
    <button type="button" class="btn primary" hx-get="${formUrl}" hx-target="#modal-body">
      Create
    </button>
  </div>`
}

/** An htmx Delete button that asks first. */
function deleteButton(url: string, confirm: string, target: string, swap = 'innerHTML') {
  return html`<button
    type="button"
    class="btn small danger"
    hx-post="${url}"
    hx-confirm="${confirm}"
    hx-target="${target}"
    hx-swap="${swap}"
  >
    Delete
  </button>`
}

async function templateNames(runtime: PluginRuntime, caId: number) {
  const map = new Map<number, string>()
  for (const t of await runtime.listTemplates(caId)) map.set(t.id, t.name)
  return map
}

/* ------------------------------------------------------------------------ policies */

async function policiesPage(ctx: RouteContext): Promise<Page> {
  const caId = ctx.currentCaId
  if (!caId) return noCa()
  const { runtime } = ctx
  const ca = await runtime.getCa(caId)
  const policies = await listPolicies(runtime, caId)
  const names = await templateNames(runtime, caId)
  const counts = new Map<number, { eabs: number; accounts: number }>()
  for (const p of policies) {
    const [eabs] = await runtime.table('acme_eabs').where('policy_id', p.id).count({ n: '*' })
    const [accounts] = await runtime
      .table('acme_accounts')
      .where('policy_id', p.id)
      .count({ n: '*' })
    counts.set(p.id, { eabs: Number(eabs.n), accounts: Number(accounts.n) })
  }
  const rows = policies.map(
    (p) =>
      html`<tr>
        <td>${p.name}</td>
        <td>${names.get(p.templateId) ?? `#${p.templateId}`}</td>
        <td>${p.preApproved.join(', ') || '—'}</td>
        <td>
          ${
            Object.entries(p.profiles)
              .map(([n, t]) => `${n} → ${names.get(t) ?? t}`)
              .join(', ') || '—'
          }
        </td>
        <td>
          <a
            class="btn small"
            href="${BASE}/policies/${p.id}/eabs"
            aria-label="External Account Bindings of ${p.name}"
            >⚙ ${counts.get(p.id)!.eabs}</a
          >
        </td>
        <td><a href="${BASE}/accounts?policy=${p.id}">${counts.get(p.id)!.accounts}</a></td>
        <td>
          <button
            type="button"
            class="btn small"
            hx-get="${BASE}/policies/${p.id}/edit"
            hx-target="#modal-body"
            aria-label="Edit ACME policy ${p.name}"
          >
            Edit
          </button>
          ${safe(deleteButton(`${BASE}/policies/${p.id}/delete`, `Delete ACME policy ${p.name} and its EABs?`, '#acme-flash'))}
        </td>
      </tr>`
  )
  return {
    title: 'ACME Policies',
    html: html`<div id="acme-flash"></div>
      <section class="card">
        ${safe(createButton(`${BASE}/policies/new`))}
        <p>ACME directory URL: <code id="acme-directory">${directoryUrl(runtime)}</code></p>
        <p class="muted">
          Policies of CA ${ca?.name ?? caId}. Pre-approved domains are authorized without a
          challenge; <code>*.example.com</code> covers example.com and every subdomain.
        </p>
        ${safe(
          dataTable(
            [
              'Name',
              'Template',
              'Pre-approved domains',
              'Profiles',
              'External Account Bindings',
              'Accounts',
              null,
            ],
            rows,
            'No ACME policy for this CA yet.'
          )
        )}
      </section>`,
  }
}

/** A policy's fields as its form shows them (profiles as name=template name). */
async function policyValues(ctx: RouteContext, policy: Policy): Promise<Record<string, string>> {
  const names = await templateNames(ctx.runtime, policy.caId)
  return {
    name: policy.name,
    template: String(policy.templateId),
    preApproved: policy.preApproved.join(', '),
    profiles: Object.entries(policy.profiles)
      .map(([n, t]) => `${n}=${names.get(t) ?? t}`)
      .join(', '),
  }
}

/** The create form, or with `editing` the edit form of that policy. */
async function policyForm(
  ctx: RouteContext,
  values: Record<string, string> = {},
  error?: PolicyError,
  editing?: Policy
): Promise<string> {
  const templates = await ctx.runtime.listTemplates(ctx.currentCaId!)
  const err = (f: string) => (error && (error.field ?? 'name') === f ? error.message : undefined)
  const options = templates
    .map(
      (t) =>
        html`<option value="${t.id}" ${safe(String(t.id) === values.template ? 'selected' : '')}>
          ${t.name}
        </option>`
    )
    .join('')
  const action = editing ? `${BASE}/policies/${editing.id}` : `${BASE}/policies`
  return modal(
    editing ? 'Edit ACME Policy' : 'Create ACME Policy',
    html`<form class="stack" hx-post="${action}" hx-target="#modal-body" novalidate>
      ${safe(field('name', 'Name', html`<input id="acme-name" name="name" required maxlength="100" value="${values.name ?? ''}" />`, err('name'), 'Unique in the install.'))}
      ${safe(field('template', 'Template', `<select id="acme-template" name="template">${options}</select>`, err('template'), 'Used to sign certificates ordered under this policy.'))}
      ${safe(field('preApproved', 'Pre-approved domains', html`<input id="acme-preApproved" name="preApproved" value="${values.preApproved ?? ''}" placeholder="*.example.com, host.example.org" />`, err('preApproved'), 'Comma-separated; authorized without a challenge.'))}
      ${safe(field('profiles', 'ACME profiles', html`<input id="acme-profiles" name="profiles" value="${values.profiles ?? ''}" placeholder="shortlived=Short Lived" />`, err('profiles'), 'Optional, comma-separated name=template of this CA. Orders without a profile use the template above.'))}
      <div class="actions">
        <button type="submit" class="btn primary">
          ${editing ? 'Save Policy' : 'Create Policy'}
        </button>
        <button type="button" class="btn" data-close-modal>Cancel</button>
      </div>
    </form>`
  )
}

const text = (v: unknown) => (v === null || v === undefined ? '' : String(v))

function policyFormValues(ctx: RouteContext) {
  const b = ctx.request.body
  return {
    name: text(b.name),
    template: text(b.template),
    preApproved: text(b.preApproved),
    profiles: text(b.profiles),
  }
}

async function editPolicyAction(ctx: RouteContext) {
  const policy = await ownPolicy(ctx)
  if (!policy) return notFound(ctx)
  const values = policyFormValues(ctx)
  try {
    await updatePolicy(ctx.runtime, policy.id, { caId: policy.caId, ...values }, ctx.actor)
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error
    ctx.reply.status(422)
    return policyForm(ctx, values, error, policy)
  }
  ctx.reply.header('HX-Redirect', BASE)
  return modal('Policy saved', html`<p>Policy ${values.name} saved.</p>`)
}

async function createPolicyAction(ctx: RouteContext) {
  if (!ctx.currentCaId) return noCa()
  const values = policyFormValues(ctx)
  try {
    await createPolicy(ctx.runtime, { caId: ctx.currentCaId, ...values }, ctx.actor)
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error
    ctx.reply.status(422)
    return policyForm(ctx, values, error)
  }
  ctx.reply.header('HX-Redirect', BASE)
  return modal('Policy created', html`<p>Policy ${values.name} created.</p>`)
}

async function ownPolicy(ctx: RouteContext): Promise<Policy | null> {
  const id = Number(ctx.request.params.id)
  const policy = Number.isSafeInteger(id) ? await findPolicy(ctx.runtime, id) : null
  return policy && policy.caId === ctx.currentCaId ? policy : null
}

function notFound(ctx: RouteContext): Page {
  ctx.reply.status(404)
  return {
    title: 'ACME',
    html: '<section class="card"><p class="empty">No such ACME policy for the current CA.</p></section>',
  }
}

async function deletePolicyAction(ctx: RouteContext) {
  const policy = await ownPolicy(ctx)
  if (!policy) return notFound(ctx)
  try {
    await deletePolicy(ctx.runtime, policy.id, ctx.actor)
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error
    ctx.reply.status(409)
    return html`<div class="flash error" role="alert">${error.message}</div>`
  }
  ctx.reply.header('HX-Redirect', BASE)
  return html`<div class="flash notice">Policy deleted.</div>`
}

/* ------------------------------------------------------------------------ EABs */

async function eabList(ctx: RouteContext, policy: Policy, oob = false) {
  const eabs = await ctx.runtime
    .table('acme_eabs')
    .where('policy_id', policy.id)
    .orderBy('id', 'desc')
  const rows = eabs.map(
    (e: any) =>
      html`<tr>
        <td>${e.name}</td>
        <td><code>${e.kid}</code></td>
        <td>${Number(e.uses)} / ${Number(e.max_uses)}</td>
        <td>${e.expires_at === null ? 'never' : fmtDate(e.expires_at)}</td>
        <td>${fmtDate(e.created_at)}</td>
        <td>
          ${safe(deleteButton(`${BASE}/eabs/${e.id}/delete`, `Delete EAB ${e.name}? Accounts registered with it keep working.`, '#eab-list', 'outerHTML'))}
        </td>
      </tr>`
  )
  return html`<div id="eab-list" ${safe(oob ? 'hx-swap-oob="outerHTML"' : '')}>
    ${safe(
      dataTable(
        ['Name', 'KID', 'Used / allowed', 'Expires', 'Created', null],
        rows,
        'No External Account Binding yet.'
      )
    )}
  </div>`
}

async function eabsPage(ctx: RouteContext): Promise<Page> {
  const policy = await ownPolicy(ctx)
  if (!policy) return notFound(ctx)
  return {
    title: `External Account Bindings · ${policy.name}`,
    html: html`<section class="card">
      <p><a href="${BASE}">← ACME Policies</a></p>
      ${safe(createButton(`${BASE}/policies/${policy.id}/eabs/new`))}
      <p class="muted">
        An account registered with an EAB of policy ${policy.name} is bound to it for good. Deleting
        a used EAB is safe.
      </p>
      ${safe(await eabList(ctx, policy))}
    </section>`,
  }
}

function eabForm(policy: Policy, values: Record<string, string> = {}, error?: PolicyError) {
  const err = (f: string) => (error && (error.field ?? 'name') === f ? error.message : undefined)
  return modal(
    'Create External Account Binding',
    html`<form
      class="stack"
      hx-post="${BASE}/policies/${policy.id}/eabs"
      hx-target="#modal-body"
      novalidate
    >
      ${safe(field('name', 'Name', html`<input id="acme-name" name="name" required maxlength="100" value="${values.name ?? ''}" />`, err('name'), 'Unique within the policy.'))}
      ${safe(field('uses', 'Allowed Use Count', html`<input id="acme-uses" name="uses" type="number" min="1" value="${values.uses ?? '1'}" />`, err('uses'), 'How many ACME accounts it may register.'))}
      ${safe(field('expires', 'Expiration Date', html`<input id="acme-expires" name="expires" type="date" value="${values.expires ?? ''}" />`, err('expires'), 'After this day no account can register with it. Empty: never.'))}
      <div class="actions">
        <button type="submit" class="btn primary">Create EAB</button>
        <button type="button" class="btn" data-close-modal>Cancel</button>
      </div>
    </form>`
  )
}

/** The ready-to-paste commands of manual §8.5 (and lego, acme.sh, Traefik). */
export function clientCommands(directory: string, kid: string, hmacKey: string) {
  return {
    'certbot': `certbot register --server ${directory} --email YOUREMAIL@YOURDOMAIN.COM --agree-tos --eab-kid ${kid} --eab-hmac-key ${hmacKey}`,
    'certbot (register and order)': `certbot certonly --standalone --server ${directory} --email YOUREMAIL@YOURDOMAIN.COM --agree-tos -d MYDOMAIN.COM --eab-kid ${kid} --eab-hmac-key ${hmacKey}`,
    'lego': `lego --server ${directory} --eab --kid ${kid} --hmac ${hmacKey} --email YOUREMAIL@YOURDOMAIN.COM --accept-tos --domains MYDOMAIN.COM --http run`,
    'acme.sh': `acme.sh --register-account --server ${directory} --eab-kid ${kid} --eab-hmac-key ${hmacKey} -m YOUREMAIL@YOURDOMAIN.COM && acme.sh --issue --server ${directory} --standalone -d MYDOMAIN.COM`,
    'Traefik (static configuration)': [
      'certificatesResolvers:',
      '  pkiaas:',
      '    acme:',
      `      caServer: ${directory}`,
      '      email: YOUREMAIL@YOURDOMAIN.COM',
      '      storage: acme.json',
      '      eab:',
      `        kid: ${kid}`,
      `        hmacEncoded: ${hmacKey}`,
      '      httpChallenge:',
      '        entryPoint: web',
    ].join('\n'),
  }
}

async function createEabAction(ctx: RouteContext) {
  const policy = await ownPolicy(ctx)
  if (!policy) return notFound(ctx)
  const b = ctx.request.body
  const values = { name: text(b.name), uses: text(b.uses) || '1', expires: text(b.expires) }
  let created
  try {
    const expiresAt = values.expires ? Date.parse(`${values.expires}T23:59:59Z`) : null
    if (values.expires && !Number.isFinite(expiresAt)) {
      throw new PolicyError('Enter a date such as 2030-12-31.', 'expires')
    }
    created = await createEab(
      ctx.runtime,
      { policyId: policy.id, name: values.name, maxUses: Number(values.uses), expiresAt },
      ctx.actor
    )
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error
    ctx.reply.status(422)
    return eabForm(policy, values, error)
  }
  const directory = directoryUrl(ctx.runtime)
  const commands = clientCommands(directory, created.kid, created.hmacKey)
  return (
    modal(
      'EAB credentials',
      html`<p><strong>Copy the KID and HMAC key now: they are shown only once.</strong></p>
        <dl class="dl">
          <dt>ACME directory URL</dt>
          <dd><code id="eab-directory">${directory}</code></dd>
          <dt>EAB KID</dt>
          <dd><code id="eab-kid">${created.kid}</code></dd>
          <dt>EAB HMAC Key</dt>
          <dd><code id="eab-hmac">${created.hmacKey}</code></dd>
        </dl>
        ${Object.entries(commands).map(([label, command]) =>
          safe(
            html`<h3>${label}</h3>
              <pre class="mono">${command}</pre>`
          )
        )}
        <div class="actions">
          <button type="button" class="btn primary" data-close-modal>Done</button>
        </div>`
    ) + (await eabList(ctx, policy, true))
  )
}

async function deleteEabAction(ctx: RouteContext) {
  const id = Number(ctx.request.params.id)
  const row = Number.isSafeInteger(id)
    ? await ctx.runtime.table('acme_eabs').where('id', id).first()
    : null
  const policy = row ? await findPolicy(ctx.runtime, Number(row.policy_id)) : null
  if (!row || !policy || policy.caId !== ctx.currentCaId) return notFound(ctx)
  await deleteEab(ctx.runtime, id, ctx.actor)
  return eabList(ctx, policy)
}

/* ------------------------------------------------------------------------ accounts */

async function accountsPage(ctx: RouteContext): Promise<Page> {
  if (!ctx.currentCaId) return noCa()
  const policies = await listPolicies(ctx.runtime, ctx.currentCaId)
  const byId = new Map(policies.map((p) => [p.id, p]))
  const only = Number(ctx.request.query.policy)
  const ids = policies.map((p) => p.id).filter((id) => !only || id === only)
  const accounts = ids.length
    ? await ctx.runtime
        .table('acme_accounts')
        .whereIn('policy_id', ids)
        .orderBy('id', 'desc')
        .limit(500)
    : []
  const rows = accounts.map(
    (a: any) =>
      html`<tr>
        <td><a href="${BASE}/accounts/${a.id}">${a.id}</a></td>
        <td>${byId.get(Number(a.policy_id))?.name ?? a.policy_id}</td>
        <td>
          ${(JSON.parse(a.contact || '[]') as string[]).map((c) => c.replace(/^mailto:/, '')).join(', ') || '—'}
        </td>
        <td><span class="badge ${a.status}">${a.status}</span></td>
        <td>${fmtDate(a.created_at)}</td>
        <td><code>${a.eab_kid ?? '—'}</code></td>
      </tr>`
  )
  return {
    title: 'ACME Accounts',
    html: html`<section class="card">
      ${safe(
        dataTable(
          ['Account', 'Policy', 'Contact', 'Status', 'Registered', 'EAB KID'],
          rows,
          "No ACME account is registered with this CA's policies yet."
        )
      )}
    </section>`,
  }
}

async function accountPage(ctx: RouteContext): Promise<Page> {
  const id = Number(ctx.request.params.id)
  const account = Number.isSafeInteger(id)
    ? await ctx.runtime.table('acme_accounts').where('id', id).first()
    : null
  const policy = account ? await findPolicy(ctx.runtime, Number(account.policy_id)) : null
  if (!account || !policy || policy.caId !== ctx.currentCaId) return notFound(ctx)
  const orders = await ctx.runtime
    .table('acme_orders')
    .where('account_id', id)
    .orderBy('id', 'desc')
    .limit(200)
  const certs = await ctx.runtime.table('acme_certificates').where('account_id', id)
  const certByOrder = new Map(certs.map((c: any) => [Number(c.order_id), c]))
  const rows = orders.map((o: any) => {
    const cert: any = certByOrder.get(Number(o.id))
    return html`<tr>
      <td>${o.id}</td>
      <td><span class="badge ${o.status}">${o.status}</span></td>
      <td>
        ${(JSON.parse(o.identifiers) as Array<{ value: string }>).map((i) => i.value).join(', ')}
      </td>
      <td>${o.profile ?? '—'}</td>
      <td>${fmtDate(o.created_at)}</td>
      <td>
        ${cert ? safe(html`<a href="/admin/certificates/${cert.certificate_id}">certificate ${cert.certificate_id}</a> (until ${fmtDate(cert.not_after)})`) : '—'}
      </td>
    </tr>`
  })
  return {
    title: `ACME Account ${id}`,
    html: html`<section class="card">
      <p><a href="${BASE}/accounts">← ACME Accounts</a></p>
      <dl class="dl">
        <dt>Policy</dt>
        <dd>${policy.name}</dd>
        <dt>Status</dt>
        <dd>${account.status}</dd>
        <dt>Key thumbprint</dt>
        <dd><code>${account.thumbprint}</code></dd>
        <dt>EAB KID</dt>
        <dd><code>${account.eab_kid ?? '—'}</code></dd>
        <dt>Registered</dt>
        <dd>${fmtDate(account.created_at)} from ${account.created_ip ?? '?'}</dd>
      </dl>
      <h2>Orders and certificates</h2>
      ${safe(
        dataTable(
          ['Order', 'Status', 'Identifiers', 'Profile', 'Created', 'Certificate'],
          rows,
          'No orders yet.'
        )
      )}
    </section>`,
  }
}

/* ------------------------------------------------------------------------ registration */

export function registerAdmin(api: PluginSetupApi) {
  api.routes({
    surface: 'admin',
    register(r) {
      r.get('/', policiesPage)
      r.get('/policies/new', async (ctx) => (ctx.currentCaId ? policyForm(ctx) : noCa()))
      r.post('/policies', createPolicyAction)
      r.get('/policies/:id/edit', async (ctx) => {
        const policy = await ownPolicy(ctx)
        return policy
          ? policyForm(ctx, await policyValues(ctx, policy), undefined, policy)
          : notFound(ctx)
      })
      r.post('/policies/:id', editPolicyAction)
      r.post('/policies/:id/delete', deletePolicyAction)
      r.get('/policies/:id/eabs', eabsPage)
      r.get('/policies/:id/eabs/new', async (ctx) => {
        const policy = await ownPolicy(ctx)
        return policy ? eabForm(policy) : notFound(ctx)
      })
      r.post('/policies/:id/eabs', createEabAction)
      r.post('/eabs/:id/delete', deleteEabAction)
      r.get('/accounts', accountsPage)
      r.get('/accounts/:id', accountPage)
    },
  })
  api.nav({ label: 'Policies', path: '/', order: 1 })
  api.nav({ label: 'Accounts', path: '/accounts', order: 2 })

  api.templateTab({
    label: 'ACME',
    async render({ runtime, scopeId, caId }) {
      const all = await listPolicies(runtime, caId)
      const policies = all.filter(
        (p) => p.templateId === scopeId || Object.values(p.profiles).includes(scopeId)
      )
      return html`<section class="card">
        <p>ACME directory URL: <code>${directoryUrl(runtime)}</code></p>
        ${
          policies.length
            ? safe(
                html`<p>
                  ACME policies signing with this template:
                  ${policies.map((p) => p.name).join(', ')}.
                </p>`
              )
            : safe(
                '<p class="muted">No ACME policy signs with this template yet (ACME → Policies).</p>'
              )
        }
      </section>`
    },
  })
}
