import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Development: the app on Vite's server, the API and the live WebSocket proxied to the gateway
// (INBOX_GATEWAY_URL, default the gateway `just up` starts). Production: `web/dist`, served by
// the gateway itself at `/`.
const gateway = process.env.INBOX_GATEWAY_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    port: Number(process.env.INBOX_WEB_PORT ?? 5173),
    proxy: {
      '/v1': { target: gateway, changeOrigin: true, ws: true },
    },
  },
  preview: {
    host: '127.0.0.1',
    proxy: {
      '/v1': { target: gateway, changeOrigin: true, ws: true },
    },
  },
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  test: {
    environment: 'happy-dom',
    setupFiles: ['./vitest.setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
