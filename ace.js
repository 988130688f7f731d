/*
 * Ace entry point: registers the TypeScript loader (SWC through ts-node-maintained)
 * and hands over to bin/console.ts.
 */
import 'ts-node-maintained/register/esm'
await import('./bin/console.js')
