// The agent sends its node credential to the panel: over http:// or ws:// to
// anything but this host it refuses, says why, and exits 2, unless --insecure.
// A real HTTP server on this host's non-loopback address stands in for a panel
// and records whether the agent reached it.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_COMMAND } from './support.ts';

/** An address of this host that is not loopback (where a remote panel would be). */
const external = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

let server: Server;
let port = 0;
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unknown token (test server)' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function agent(...args: string[]): Promise<{ code: number; stderr: string }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'tula-sec-agent-'));
  return new Promise((resolve) => {
    execFile(
      AGENT_COMMAND[0]!,
      [...AGENT_COMMAND.slice(1), 'run', '--state-dir', stateDir, '--token', 'tet_'.padEnd(40, 'q'), '--name', 'n1', ...args],
      { timeout: 30_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }),
    );
  });
}

describe.skipIf(!external)(
  `agent and plain-text panels${external ? '' : ' (skipped: this host has no non-loopback IPv4 address to stand in for a remote panel)'}`,
  () => {
    it('refuses an http:// panel that is not on this host, says why, exits 2 and sends nothing', async () => {
      requests.length = 0;
      const { code, stderr } = await agent('--server', `http://${external}:${port}`);
      expect(stderr).toMatch(/unencrypted/);
      expect(stderr).toContain('https://');
      expect(stderr).toContain('--insecure');
      expect(code).toBe(2);
      expect(requests).toEqual([]);
    });

    it('refuses a ws:// panel the same way', async () => {
      const { code, stderr } = await agent('--server', `ws://${external}:${port}`);
      expect(stderr).toContain('--insecure');
      expect(code).toBe(2);
      expect(requests).toEqual([]);
    });

    it('with --insecure, goes ahead (and reports the panel refusing the token)', async () => {
      requests.length = 0;
      const { code, stderr } = await agent('--server', `http://${external}:${port}`, '--insecure');
      expect(requests).toEqual(['POST /api/agent/enroll']);
      expect(stderr).toContain('unknown token (test server)');
      expect(code).toBe(1);
    });

    it('accepts http:// to this host (loopback) without --insecure', async () => {
      requests.length = 0;
      const { code, stderr } = await agent('--server', `http://127.0.0.1:${port}`);
      expect(requests).toEqual(['POST /api/agent/enroll']);
      expect(stderr).toContain('unknown token (test server)');
      expect(code).toBe(1);
    });
  },
);
