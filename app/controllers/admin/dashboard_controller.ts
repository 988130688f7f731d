import type { HttpContext } from '@adonisjs/core/http'

export default class DashboardController {
  async show({ view, currentCa, response }: HttpContext) {
    // A user with no CA starts by creating one (manual §1.2).
    if (!currentCa) return response.redirect('/admin/cas/new')
    return view.render('pages/dashboard/show', {})
  }
}
