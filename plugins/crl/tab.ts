/*
 * The CA's "CRL" tab (under the settings form the kernel generates from the schema): the CRLs
 * being served with their numbers, entries, dates, sizes and URLs.
 */
import { html, safe, type TabRenderContext } from '#plugin-api'
import { crlUrl, isDeltaScope } from './names.js'
import { currentLists, readState, shardCounts, type StoredList } from './store.js'

function when(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

function row(publicUrl: string, list: StoredList): string {
  const url = crlUrl(publicUrl, list.caId, list.scope)
  const kind = isDeltaScope(list.scope) ? `Delta (base #${list.baseNumber})` : 'Full'
  return html`<tr>
    <td>${kind}</td>
    <td>${list.number}</td>
    <td>${list.entries}</td>
    <td>${when(list.thisUpdate)}</td>
    <td>${when(list.nextUpdate)}</td>
    <td>${size(list.size)}</td>
    <td>
      <a href="${url}"><code>${url}</code></a>
    </td>
  </tr>`
}

export async function renderCaTab(ctx: TabRenderContext, publicUrl: string): Promise<string> {
  const state = await readState(ctx.runtime, ctx.caId)
  const lists = state ? await currentLists(ctx.runtime, state) : []
  const served = lists
    .filter((l) =>
      l.baseNumber === null ? l.number === state!.fullNumber : l.number === state!.deltaNumber
    )
    .sort((a, b) => a.scope.localeCompare(b.scope, 'en', { numeric: true }))
  const sets = await shardCounts(ctx.runtime, ctx.caId)
  const pending = state && state.dirty > state.fullBuiltDirty
  return html`<section class="card crl-status">
    <h2>Published CRLs</h2>
    ${
      served.length === 0
        ? safe(
            '<p class="empty">No CRL has been issued for this CA yet. The first one is built within seconds, or when its URL is first requested.</p>'
          )
        : safe(
            html`<p class="muted">
                Current CRL number: <strong>${state!.lastNumber}</strong>.${
                  pending
                    ? ' A change is waiting for the next full CRL (the delta carries it meanwhile).'
                    : ''
                }
                ${sets.length > 0 ? `Shard sets published: ${sets.join(', ')}.` : ''}
              </p>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Kind</th>
                      <th scope="col">Number</th>
                      <th scope="col">Entries</th>
                      <th scope="col">This update</th>
                      <th scope="col">Next update</th>
                      <th scope="col">Size</th>
                      <th scope="col">URL</th>
                    </tr>
                  </thead>
                  <tbody>
                    ${served.map((l) => safe(row(publicUrl, l)))}
                  </tbody>
                </table>
              </div>`
          )
    }
  </section>`
}
