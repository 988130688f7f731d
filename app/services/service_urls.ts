/*
 * Service URLs: where clients find a CA's certificate, OCSP responder and CRLs. The kernel
 * provides the caIssuers URL (it serves CA certificates itself); plugins add theirs (OCSP, CRL,
 * ACME directory, SCEP...) through the plugin contract. URLs marked `embedIn` go into the AIA or
 * CDP extensions of certificates whose template asks for them.
 */
import pkiConfig from '#config/pki'

import type { EmbedTarget, UrlContext } from '#plugins/contract'

/* Embed targets and the URL context are part of the plugin contract. */
export type { EmbedTarget, UrlContext }

export interface ServiceUrlProvider {
  owner: string
  kind: string
  label: string
  scope: 'ca' | 'template'
  embedIn?: EmbedTarget
  isActive: () => boolean
  urls: (ctx: UrlContext) => string[]
}

const providers: ServiceUrlProvider[] = []

export function registerServiceUrl(provider: ServiceUrlProvider) {
  providers.push(provider)
  return () => {
    const i = providers.indexOf(provider)
    if (i >= 0) providers.splice(i, 1)
  }
}

export function caIssuersUrl(caId: number) {
  return `${pkiConfig.publicUrl}/pki/ca/${caId}.crt`
}

registerServiceUrl({
  owner: 'kernel',
  kind: 'ca-certificate',
  label: 'CA certificate (DER)',
  scope: 'ca',
  embedIn: 'aia.caIssuers',
  isActive: () => true,
  urls: (ctx) => [caIssuersUrl(ctx.caId)],
})

registerServiceUrl({
  owner: 'kernel',
  kind: 'ca-chain',
  label: 'CA chain (PEM)',
  scope: 'ca',
  isActive: () => true,
  urls: (ctx) => [`${pkiConfig.publicUrl}/pki/ca/${ctx.caId}/chain.pem`],
})

/** URLs to embed into a certificate, by target. */
export function embeddedUrls(target: EmbedTarget, ctx: UrlContext): string[] {
  return providers.filter((p) => p.embedIn === target && p.isActive()).flatMap((p) => p.urls(ctx))
}

/** Everything shown in "Show CA Service URLs" / "Show Template Service URLs". */
export function listServiceUrls(scope: 'ca' | 'template', ctx: UrlContext) {
  return providers
    .filter((p) => p.scope === scope && p.isActive())
    .map((p) => ({ kind: p.kind, label: p.label, owner: p.owner, urls: p.urls(ctx) }))
}
