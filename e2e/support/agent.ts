// Real agents for the browser tests, enrolled with the token the panel's "Add a node" shows.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';
import { AGENT_COMMAND } from '../../apps/agent/test/support.ts';

/** Each agent's output, kept for the run: the page says a node never appeared, this says why. */
const AGENT_LOGS = 'test-results/e2e-agents';
/** Starting and enrolling: a few seconds alone, longer beside the other suites of `npm test` on two cores. */
export const ENROLLED_WITHIN = { timeout: 60_000 };

/** The enrollment token of the command the open "Add a node" dialog shows. */
export async function enrollmentToken(page: Page): Promise<string> {
  const command = (await page.getByTestId('agent-command').textContent()) ?? '';
  const token = /--token (\S+)/.exec(command)?.[1];
  expect(token, 'the command carries an enrollment token').toBeTruthy();
  return token!;
}

/**
 * Starts `tula-agent run` enrolling as `name` (the test bundle when npm test built one: a fifth of
 * tsx's start-up CPU). `netns` runs it inside a lab namespace; without one it runs in dry-run, so
 * it renders and acknowledges without touching this host's kernel.
 */
export function startAgent(options: { server: string; token: string; name: string; netns?: string }): ChildProcess {
  const stateDir = join(mkdtempSync(join(tmpdir(), `tula-e2e-${options.name}-`)), 'state');
  const args = ['run', '--server', options.server, '--token', options.token, '--name', options.name, '--state-dir', stateDir];
  const argv = options.netns
    ? ['ip', 'netns', 'exec', options.netns, ...AGENT_COMMAND, ...args, '--insecure']
    : [...AGENT_COMMAND, ...args, '--dry-run'];
  mkdirSync(AGENT_LOGS, { recursive: true });
  const log = openSync(join(AGENT_LOGS, `${options.name}.log`), 'a');
  return spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log, log] });
}
