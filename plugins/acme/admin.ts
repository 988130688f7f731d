import type { PluginSetupApi } from '#plugin-api'

export function registerAdmin(_api: PluginSetupApi) {}
