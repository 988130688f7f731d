import { defineConfig } from '@adonisjs/core/app'

export default defineConfig({
  /*
   * Ace commands: the framework's, Lucid's, the plugins' and the kernel's own (commands/).
   */
  commands: [
    () => import('@adonisjs/core/commands'),
    () => import('@adonisjs/lucid/commands'),
    // Commands declared by plugins (api.command), e.g. acme:policy:create
    () => import('#plugins/commands_loader'),
  ],
  directories: {
    commands: 'commands',
  },

  /*
   * Providers shut down in reverse order, so the kernel and plugin providers flush what they
   * hold (queued service log entries, the certificate store) while the database is still open.
   */
  experimental: { shutdownInReverseOrder: true },

  providers: [
    () => import('@adonisjs/core/providers/app_provider'),
    () => import('@adonisjs/core/providers/hash_provider'),
    {
      file: () => import('@adonisjs/core/providers/repl_provider'),
      environment: ['repl', 'test'],
    },
    () => import('@adonisjs/core/providers/vinejs_provider'),
    () => import('@adonisjs/lucid/database_provider'),
    () => import('@adonisjs/core/providers/edge_provider'),
    () => import('@adonisjs/session/session_provider'),
    () => import('@adonisjs/shield/shield_provider'),
    () => import('@adonisjs/auth/auth_provider'),
    () => import('@adonisjs/ally/ally_provider'),
    () => import('#providers/pki_provider'),
    () => import('#providers/plugin_provider'),
  ],

  preloads: [() => import('#start/routes'), () => import('#start/kernel')],

  /* Plain files the production build (`node ace build`) must copy next to the compiled code. */
  metaFiles: [
    { pattern: 'resources/views/**/*.edge', reloadServer: false },
    { pattern: 'public/**', reloadServer: false },
    { pattern: 'hsm/pq_worker.js', reloadServer: false },
    { pattern: 'app/services/store_worker.js', reloadServer: false },
    { pattern: 'app/services/revoked_reader_worker.js', reloadServer: false },
    { pattern: 'app/services/sqlite_setup.js', reloadServer: false },
    { pattern: 'app/services/batch_statements.js', reloadServer: false },
  ],

  tests: {
    suites: [
      {
        files: ['tests/unit/**/*.spec(.ts|.js)'],
        name: 'unit',
        timeout: 60000,
      },
      {
        files: ['tests/functional/**/*.spec(.ts|.js)'],
        name: 'functional',
        timeout: 120000,
      },
      {
        files: ['tests/contract/**/*.spec(.ts|.js)'],
        name: 'contract',
        timeout: 60000,
      },
      {
        files: ['tests/interop/**/*.spec(.ts|.js)'],
        name: 'interop',
        timeout: 300000,
      },
      {
        files: ['tests/browser/**/*.spec(.ts|.js)'],
        name: 'browser',
        timeout: 300000,
      },
    ],
    forceExit: true,
  },
})
