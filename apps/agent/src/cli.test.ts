// The command line explains itself: `tula-agent <command> --help` prints that
// command's usage and exits 0; `status` names the state directory it read, says
// whether the agent is running (its status.json's age and its pid) and warns on
// stale state. Runs the real CLI (bin/tula-agent.js) as a child process.
import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/tula-agent.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tula-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, TULA_SERVER: '', TULA_AGENT_STATE_DIR: '' } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const COMMANDS = ['render', 'validate', 'apply', 'run', 'enroll', 'check', 'status', 'reset'];

describe('tula-agent <command> --help', () => {
  it.each(COMMANDS)('%s --help prints that command’s usage and exits 0', async (command) => {
    const r = await agent([command, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`tula-agent ${command}`);
    for (const other of COMMANDS.filter((c) => c !== command)) expect(r.stdout).not.toMatch(new RegExp(`^\\s*tula-agent ${other}\\b`, 'm'));
  });

  it('render --help explains --offline', async () => {
    const r = await agent(['render', '--help']);
    expect(r.stdout).toMatch(/--offline\s+\S.*(without reading|placeholder|made-up|this host)/);
  });

  it('help <command> prints that command’s usage', async () => {
    const r = await agent(['help', 'status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('tula-agent status');
  });
});

describe('tula-agent run --panel-hold-time', () => {
  it.each([['2'], ['7200'], ['soon']])('refuses %s, saying what it takes, and exits 2', async (value) => {
    const r = await agent(['run', '--server', 'https://panel.example', '--panel-hold-time', value, '--state-dir', join(dir, 'hold')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--panel-hold-time (or TULA_AGENT_PANEL_HOLD_TIME) must be seconds from 5 to 3600, not "${value}"`);
  });
});

describe('tula-agent status', () => {
  async function status(stateDir: string) {
    const r = await agent(['status', '--state-dir', stateDir]);
    expect(r.code).toBe(0);
    return { report: JSON.parse(r.stdout) as Record<string, unknown>, stderr: r.stderr };
  }

  it('names the state directory and says the agent never ran there', async () => {
    const empty = join(dir, 'empty');
    const { report, stderr } = await status(empty);
    expect(report.stateDir).toBe(empty);
    expect(report.running).toBe(false);
    expect(report.agent).toMatchObject({ pid: null, statusWrittenAt: null });
    expect(stderr).toMatch(new RegExp(`no status file in ${empty}`));
  });

  it('warns when the status is stale and its process is gone', async () => {
    const stale = join(dir, 'stale');
    const written = new Date(Date.now() - 3_600_000).toISOString();
    rmSync(stale, { recursive: true, force: true });
    await import('node:fs').then((fs) => fs.mkdirSync(stale));
    // pid 2^22+1 is above Linux's pid_max limit, so no process has it.
    writeFileSync(join(stale, 'status.json'), JSON.stringify({ pid: 4194305, updatedAt: written, warnings: [], health: {} }));
    const { report, stderr } = await status(stale);
    expect(report.stateDir).toBe(stale);
    expect(report.running).toBe(false);
    expect(report.agent).toMatchObject({ pid: 4194305, pidAlive: false, statusWrittenAt: written });
    expect(stderr).toMatch(/stale/);
    expect(stderr).toContain('4194305');
  });

  it('says running with the pid when the status is fresh and its process alive', async () => {
    const live = join(dir, 'live');
    await import('node:fs').then((fs) => fs.mkdirSync(live, { recursive: true }));
    // Rewritten every second, as `run` does: the CLI may take longer than the 5 s freshness to start on a loaded machine.
    const write = () => {
      writeFileSync(
        join(live, 'status.next'),
        JSON.stringify({ pid: process.pid, updatedAt: new Date().toISOString(), warnings: [], health: {} }),
      );
      renameSync(join(live, 'status.next'), join(live, 'status.json'));
    };
    write();
    const rewriting = setInterval(write, 1000);
    const { report, stderr } = await status(live).finally(() => clearInterval(rewriting));
    expect(report.running).toBe(true);
    expect(report.agent).toMatchObject({ pid: process.pid, pidAlive: true });
    expect(stderr).toBe('');
  });
});
