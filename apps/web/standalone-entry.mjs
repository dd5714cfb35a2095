// The panel image's entry point (copied to /app/apps/web/start.mjs by
// scripts/build-standalone.mjs): gives Next the configuration it was built with
// (a standalone tree has no next.config.ts), then runs the compiled server.
import { readFileSync } from 'node:fs';

if (!process.env.__NEXT_PRIVATE_STANDALONE_CONFIG) {
  const built = JSON.parse(readFileSync(new URL('.next/required-server-files.json', import.meta.url), 'utf8'));
  process.env.__NEXT_PRIVATE_STANDALONE_CONFIG = JSON.stringify(built.config);
}
await import('./server.mjs');
