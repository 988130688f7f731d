/*
 * `npm start`: runs the HTTP server from the TypeScript sources (no build step needed).
 */
import 'ts-node-maintained/register/esm'
await import('./server.js')
