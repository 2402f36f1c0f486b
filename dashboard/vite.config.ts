// Vite build of the staff dashboard: `vite build dashboard` (root = this folder) → dashboard/dist/, served by the
// worker as static assets (wrangler.toml [assets], SPA fallback to index.html).
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

export default defineConfig({
  plugins: [preact({ devToolsEnabled: false, prefreshEnabled: false })],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline <script> (the CSP allows script-src 'self' only) and no inline assets under a tiny limit.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    chunkSizeWarningLimit: 200,
  },
  server: {
    // `vite dashboard` for UI work against a running `wrangler dev` (scripts/dev.sh) on 8787.
    proxy: { '/api': { target: 'http://127.0.0.1:8787', ws: true } },
  },
});
