/*
 * Social/OIDC logins. The providers themselves are configured by an administrator in the UI
 * (login_providers table) and built per request by app/services/login_providers.ts, so nothing
 * is listed here.
 */
import { defineConfig } from '@adonisjs/ally'

const allyConfig = defineConfig({})

export default allyConfig
