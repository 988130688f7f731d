import { configApp } from '@adonisjs/eslint-config'

/*
 * Lint rules, including the room boundaries of docs/architecture.md:
 *  - hsm/ imports nothing of app/ (it is usable on its own, e.g. by the IoT-HSM agent);
 *  - the kernel (app/) never imports a plugin;
 *  - a plugin never imports kernel models or services: it goes through the plugin contract.
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
              group: ['#*', '../app/*', '../../app/*'],
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
    files: ['plugins/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '#models/*',
                '#services/*',
                '#controllers/*',
                '**/app/models/*',
                '**/app/services/*',
              ],
              message: 'Plugins reach the kernel only through the plugin contract.',
            },
          ],
        },
      ],
    },
  }
)
