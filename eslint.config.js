import { configApp } from '@adonisjs/eslint-config'

/*
 * Lint rules, including the room boundaries of docs/architecture.md:
 *  - hsm/ imports nothing of app/ (it is usable on its own, e.g. by the IoT-HSM agent);
 *  - the kernel (app/) never imports a plugin;
 *  - a plugin never imports kernel models or services: it goes through the plugin contract.
 * In import patterns a leading "#" is escaped ('\\#models/*'): the patterns follow .gitignore
 * syntax, where an unescaped "#" starts a comment and matches nothing.
 */
export default configApp(
  {
    ignores: ['build/**', 'data/**', 'tmp/**', '.tools/**', 'node_modules/**', 'hsm/pq_worker.js'],
  },
  {
    // `(await client.get(...)).body()` reads naturally in tests.
    files: ['tests/**/*.ts', 'bench/**/*.ts'],
    rules: { '@unicorn/no-await-expression-member': 'off' },
  },
  {
    files: ['hsm/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['\\#*', '../app/*', '../../app/*'],
              message: 'hsm/ must not import app/ code.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['app/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/plugins/*'], message: 'The kernel never imports a plugin.' }] },
      ],
    },
  },
  {
    files: ['plugins/**/*.ts', 'plugins/**/*.js'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '\\#models/*',
                '\\#services/*',
                '\\#controllers/*',
                '\\#middleware/*',
                '\\#plugins/*',
                '\\#providers/*',
                '\\#start/*',
                '**/app/models/*',
                '**/app/services/*',
                '**/app/controllers/*',
                '**/app/plugins/*',
              ],
              message:
                'Plugins reach the kernel only through the plugin contract (#plugin-api) and setup(api)/start(runtime).',
            },
          ],
        },
      ],
    },
  },
  {
    // Third-party plugin packages: no kernel import at all (they run from node_modules).
    files: ['examples/**/*.js', 'examples/**/*.ts', 'tests/fixtures/plugins/**/*.js'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['\\#*', '**/app/*', '**/app/**'],
              message:
                'A plugin package imports nothing of the kernel: everything comes through setup(api) and start(runtime).',
            },
          ],
        },
      ],
    },
  }
)
