/*
 * Admin UI: the template menu's "Submit CSR" (manual §1.5.2, §7.2). The CSR becomes a pending
 * request through the kernel's request service; with "Sign now" the same user approves it at
 * once with the template's defaults (two audited steps, as if done from Pending Requests).
 */
import type { HttpContext } from '@adonisjs/core/http'
import { templateService } from '#services/template_service'
import { requestService } from '#services/request_service'
import { KernelError } from '#exceptions/kernel_error'
import * as pki from '#pki/index'
import { checked, fieldErrors, isHtmx, textOrFile, type FieldErrors } from './_form_errors.js'

export default class TemplateRequestsController {
  /** GET /admin/templates/:id/submit */
  async create(ctx: HttpContext) {
    const template = await templateService.find(ctx.actor, ctx.params.id)
    return ctx.view.render('pages/templates/submit', this.data(template, { csr: '' }, {}))
  }

  /** POST /admin/templates/:id/submit { csr | csrFile, signNow? } */
  async store(ctx: HttpContext) {
    const { actor, params, request, response } = ctx
    const template = await templateService.find(actor, params.id)
    const form = {
      csr: String(request.input('csr') ?? ''),
      signNow: checked(request.input('signNow')),
    }
    let submitted
    try {
      const input = await textOrFile(ctx, 'csr', 'csrFile')
      if (input === undefined) {
        throw new KernelError(
          'E_INVALID_CSR',
          'Paste a certificate signing request (PEM) or choose a CSR file.',
          { field: 'csr' }
        )
      }
      const csr = typeof input === 'string' ? input : pki.toPem(input, 'CERTIFICATE REQUEST')
      submitted = await requestService.submit(actor, template, csr, 'admin-ui')
    } catch (error) {
      const errors = fieldErrors(error, { byCode: { E_INVALID_CSR: 'csr' } })
      if (!errors) throw error
      response.status(422)
      const data = this.data(template, form, errors)
      if (isHtmx(ctx)) return ctx.view.render('partials/template_submit_form', data)
      return ctx.view.render('pages/templates/submit', data)
    }

    let certificate: { id: number; serial: string } | null = null
    let signError: string | null = null
    if (form.signNow) {
      try {
        const issued: any = await requestService.approve(actor, submitted.id)
        certificate = { id: Number(issued.id), serial: String(issued.serial) }
      } catch (error) {
        if (!(error instanceof KernelError) && (error as any)?.name !== 'PkiError') throw error
        signError = (error as Error).message
      }
    }
    response.status(201)
    const data = {
      template: { id: template.id, name: template.name },
      request: { id: submitted.id, subjectDn: submitted.subjectDn, sans: submitted.sans },
      certificate,
      signError,
    }
    if (isHtmx(ctx)) return ctx.view.render('partials/template_submit_result', data)
    return ctx.view.render('pages/templates/submitted', data)
  }

  private data(
    template: { id: number; name: string; options: any },
    form: { csr: string; signNow?: boolean },
    errors: FieldErrors
  ) {
    return {
      template: { id: template.id, name: template.name, enabled: template.options.enabled },
      form,
      errors,
    }
  }
}
