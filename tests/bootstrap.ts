/*
 * Japa configuration: plugins, reporters, and what each suite needs before it runs.
 */
import { createHttpServer } from '#start/http_server'
import { appendFileSync } from 'node:fs'
import { assert } from '@japa/assert'
import { apiClient } from '@japa/api-client'
import app from '@adonisjs/core/services/app'
import type { Config } from '@japa/runner/types'
import { pluginAdonisJS } from '@japa/plugin-adonisjs'
import { spec } from '@japa/runner/reporters'
import { BaseReporter } from '@japa/runner/core'
import testUtils from '@adonisjs/core/services/test_utils'
import { sessionApiClient } from '@adonisjs/session/plugins/api_client'
import { shieldApiClient } from '@adonisjs/shield/plugins/api_client'
import { authApiClient } from '@adonisjs/auth/plugins/api_client'

/**
 * Appends `passed failed skipped` counts of this run to $TEST_SUMMARY_FILE, so scripts/test.sh
 * and .ci/run can print one plain `N passed, N failed` line over several runs.
 */
class SummaryFileReporter extends BaseReporter {
  protected async end() {
    const file = process.env.TEST_SUMMARY_FILE
    const summary = this.runner?.getSummary()
    if (!file || !summary) return
    const { passed, failed, skipped, todo, regression } = summary.aggregates
    // A failing group or suite hook (setup) runs no test: count it as a failure, never as 0/0.
    const failures = failed + regression
    const hookFailures = summary.hasError && failures === 0 ? 1 : 0
    appendFileSync(file, `${passed} ${failures + hookFailures} ${skipped + todo}\n`)
  }
}

export const plugins: Config['plugins'] = [
  assert(),
  apiClient(),
  pluginAdonisJS(app),
  sessionApiClient(app),
  shieldApiClient(),
  authApiClient(app),
]

export const reporters: Config['reporters'] = {
  activated: ['spec', 'summary-file'],
  list: [
    spec(),
    {
      name: 'summary-file',
      handler: (runner, emitter) => new SummaryFileReporter().boot(runner, emitter),
    },
  ],
}

export const runnerHooks: Required<Pick<Config, 'setup' | 'teardown'>> = {
  setup: [],
  teardown: [],
}

export const configureSuite: Config['configureSuite'] = (suite) => {
  if (['functional', 'interop'].includes(suite.name)) {
    // The server the app runs on (start/http_server.ts): plugins' fast routes come first, as in
    // production.
    return suite.setup(() => testUtils.httpServer().start(createHttpServer))
  }
}
