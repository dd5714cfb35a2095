// The L2 DSR kernel test again, through the single executable that install.sh
// puts on hosts (no Node.js, no tsx): what ships is what forwards.
import { describe } from 'vitest';
import { AGENT_BINARY, ensureAgentRelease, releaseUnavailable } from './release.ts';

const unavailable = await releaseUnavailable();
if (unavailable) {
  describe.skip(`L2 DSR through the single executable (skipped: ${unavailable})`, () => undefined);
} else {
  await ensureAgentRelease();
  process.env.TULA_AGENT_BIN = AGENT_BINARY;
  await import('./l2.test.ts');
}
