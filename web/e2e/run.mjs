// `npm run e2e [-- scenario ...]`: the end-to-end scenarios in Debian's headless Chromium.
// Without INBOX_WEB_URL, the built app (dist/, `npm run build` first) is served here by Vite's
// preview server with /v1 (HTTP and WebSocket) proxied to INBOX_GATEWAY_URL, so a test that
// starts the fleet only has to set the gateway URL and the tokens.
import { existsSync } from 'node:fs';

let server = null;
if (!process.env.INBOX_WEB_URL) {
  const gateway = process.env.INBOX_GATEWAY_URL;
  if (!gateway) {
    console.error('set INBOX_WEB_URL (the served app) or INBOX_GATEWAY_URL (the app is served here from dist/)');
    process.exit(2);
  }
  const root = new URL('..', import.meta.url).pathname;
  if (!existsSync(`${root}dist/index.html`)) {
    console.error('dist/ is missing: run npm run build first');
    process.exit(2);
  }
  const { preview } = await import('vite');
  const port = Number(process.env.INBOX_WEB_PORT ?? 40000 + Math.floor(Math.random() * 20000));
  server = await preview({
    root,
    configFile: false,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port, strictPort: true, proxy: { '/v1': { target: gateway, changeOrigin: true, ws: true } } },
  });
  process.env.INBOX_WEB_URL = `http://127.0.0.1:${port}`;
  console.log(`serving dist/ at ${process.env.INBOX_WEB_URL}, /v1 proxied to ${gateway}`);
}

const { runScenarios } = await import('./lib.mjs');
const { scenarios } = await import('./scenarios.mjs');
const ok = await runScenarios(scenarios, process.argv.slice(2));
await server?.close();
process.exit(ok ? 0 : 1);
