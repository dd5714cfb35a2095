#!/usr/bin/env node
// Runs the agent from its TypeScript source through tsx. Hosts that should not
// carry the repository use the single-file build instead: `npm run build -w
// @tula/agent` writes dist/tula-agent.mjs, which needs only Node.js 20+.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
