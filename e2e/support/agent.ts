// Real agents for the browser tests, enrolled with the token the panel's "Add a node" shows.
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';
import { startAgent as startControlAgent } from '../../test/support/control.ts';

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
 * Starts `tula-agent run` enrolling as `name` (test/support/control.ts's agent: the test bundle when npm test
 * built one, a fifth of tsx's start-up CPU), its output kept in AGENT_LOGS. `netns` runs it inside a lab
 * namespace over plain http; without one it runs in dry-run, so it renders and acknowledges without touching
 * this host's kernel.
 */
export function startAgent(options: { server: string; token: string; name: string; netns?: string }): ChildProcess {
  mkdirSync(AGENT_LOGS, { recursive: true });
  return startControlAgent({
    ...options,
    dryRun: !options.netns,
    extra: options.netns ? ['--insecure'] : [],
    logFile: join(AGENT_LOGS, `${options.name}.log`),
  }).child;
}
