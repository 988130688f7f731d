import { defineConfig, drivers } from '@adonisjs/core/hash'

/* argon2id for passwords (OWASP: m=19 MiB, t=2, p=1 is the floor; we use 64 MiB, t=3). */
const hashConfig = defineConfig({
  default: 'argon',
  list: {
    argon: drivers.argon2({
      version: 0x13,
      variant: 'id',
      iterations: 3,
      memory: 65536,
      parallelism: 1,
      saltSize: 16,
      hashLength: 32,
    }),
    scrypt: drivers.scrypt({ cost: 16384, blockSize: 8, parallelization: 1, maxMemory: 33554432 }),
  },
})

export default hashConfig

declare module '@adonisjs/core/types' {
  export interface HashersList extends InferHashers<typeof hashConfig> {}
}
