// Vite build of the customer widget: `vite build dashboard --config dashboard/vite.widget.config.ts` (after the
// dashboard build, which empties dist/) → dashboard/dist/widget.js, one self-contained IIFE without a hash, served
// by the worker as /widget.js. Paths are absolute so the command works from any directory, with or without the
// `dashboard` root argument.
import { defineConfig } from 'vite';

/** A path relative to this file (Vite injects this file's own URL as import.meta.url when loading the config). */
const here = (p: string) => decodeURIComponent(new URL(p, import.meta.url).pathname);

export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('dist'),
    emptyOutDir: false,
    copyPublicDir: false,
    target: 'es2022',
    minify: true,
    sourcemap: false,
    assetsInlineLimit: 0,
    lib: {
      entry: here('widget/widget.ts'),
      formats: ['iife'],
      name: 'EdgedeskWidget',
      fileName: () => 'widget.js',
    },
  },
});
