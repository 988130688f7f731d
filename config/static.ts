/*
 * Static files of the admin UI (public/): the stylesheet and icons.
 */
import { defineConfig } from '@adonisjs/static'

const staticServerConfig = defineConfig({
  enabled: true,
  etag: true,
  lastModified: true,
  dotFiles: 'ignore',
  immutable: false,
  maxAge: '1h',
})

export default staticServerConfig
