import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { defineConfig, targets } from '@adonisjs/core/logger'

const loggerConfig = defineConfig({
  default: 'app',
  loggers: {
    app: {
      enabled: true,
      name: 'open-pki',
      level: env.get('LOG_LEVEL', app.inTest ? 'warn' : 'info'),
      /* Never log secrets: these paths are censored wherever they appear. */
      redact: {
        paths: [
          'password',
          '*.password',
          'token',
          '*.token',
          'privateKey',
          '*.privateKey',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
      transport: {
        targets: targets()
          .pushIf(!app.inProduction, targets.pretty())
          .pushIf(app.inProduction, targets.file({ destination: 1 }))
          .toArray(),
      },
    },
  },
})

export default loggerConfig

declare module '@adonisjs/core/types' {
  export interface LoggersList extends InferLoggers<typeof loggerConfig> {}
}
