// The flow table in the kernel: what a pin is keyed by, how pins of a backend
// that goes away stop counting, and how services are dispatched. Real nftables
// and traffic in network namespaces.
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, netlabScript, type Lab } from '@tula/netlab';
import { execFile, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentHost, curlFromClient, kernelTestsUnavailable } from './support.ts';

const unavailable = await kernelTestsUnavailable();
const noHping = await new Promise<string | undefined>((resolve) =>
  execFile('hping3', ['--version'], (err) =>
    resolve(err && (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'hping3 is not installed (Debian package hping3)' : undefined),
  ),
);
const VIP = LAB.l2Vip.v4;

/** Starts a process in a namespace and resolves once its output contains `ready`. */
function started(child: ChildProcess, what: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  });
}

describe.skipIf(unavailable)(`flow table${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;

  beforeAll(async () => {
    lab = await createLab({ prefix: 'wfl' });
    lb = new AgentHost(lab, lab.balancers[0]!);
    for (const b of lab.backends) {
      await new AgentHost(lab, b).apply({ apiVersion: 'tula/v1', version: 1, backend: { vips: [{ vip: VIP, mode: 'l2' }] } });
    }
    // b1 also answers UDP on port 80 (with its name), for a UDP service on the web port.
    await started(
      lab.spawn(lab.backends[0]!.ns, [
        ...netlabScript('backend-server'),
        '--name',
        'b1',
        '--http',
        '8080',
        '--udp',
        '80',
        '--lab',
        lab.prefix,
      ]),
      'UDP server on b1',
    );
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  /** One UDP datagram per source port in `sports` ("a-b") to VIP:port: who answered each. */
  async function udp(port: number, sports: string): Promise<Record<string, string | null>> {
    const r = await lab.exec(lab.client.ns, [...netlabScript('probe-client'), '--target', VIP, '--port', String(port), '--sports', sports]);
    return JSON.parse(r.stdout) as Record<string, string | null>;
  }

  const service = (
    name: string,
    protocol: 'tcp' | 'udp',
    ports: { port: number } | { ports: string },
    backends: string[],
    flowTableSize?: number,
  ) => ({
    name,
    vip: VIP,
    ...ports,
    protocol,
    mode: 'l2' as const,
    ...(flowTableSize !== undefined && { flowTableSize }),
    backends: backends.map((address) => ({ address })),
  });
  const doc = (version: number, services: ReturnType<typeof service>[]): DesiredStateInput => ({
    apiVersion: 'tula/v1',
    version,
    balancer: { services },
  });
  const [b1, b2, b3] = [0, 1, 2].map((i) => `${LAB.serverNet.v4}.${11 + i}`) as [string, string, string];

  it('keys flows by protocol: a UDP pin never captures a TCP connection from the same port', async () => {
    await lb.apply(doc(1, [service('udp80', 'udp', { port: 80 }, [b1]), service('tcp80', 'tcp', { port: 80 }, [b2, b3])]));
    expect(await udp(80, '40000-40000')).toEqual({ 40000: 'b1' });
    // The same addresses and ports, TCP: another service, whose backends are b2 and b3.
    const answer = (await curlFromClient(lab, `http://${VIP}/`, ['--local-port', '40000'])).trim();
    expect(['b2', 'b3']).toContain(answer);
  });

  it('one apply is one nft transaction: pins of a removed backend stop counting without a release step', async () => {
    const all = [b1, b2, b3];
    await lb.apply(doc(2, [service('dns', 'udp', { port: 5353 }, all)]));
    const before = await udp(5353, '20000-20199');
    const onB2 = Object.keys(before).filter((p) => before[p] === 'b2');
    expect(onB2.length).toBeGreaterThan(0);
    expect(Object.values(before)).not.toContain(null);

    const monitor = lab.spawn(lb.host.ns, ['nft', 'monitor']);
    let events = '';
    monitor.stdout!.on('data', (d: Buffer) => (events += d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    await lb.apply(doc(3, [service('dns', 'udp', { port: 5353 }, [b1, b3])]));
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise((r) => monitor.once('exit', r));
    monitor.kill('SIGTERM');
    await exited;
    const transactions = events.split('\n').filter((l) => l.startsWith('# new generation'));
    expect(transactions, transactions.join('; ')).toHaveLength(1);

    // Flows that were on b2 move to the others; the rest stay where they were.
    const after = await udp(5353, '20000-20199');
    for (const [port, who] of Object.entries(before)) {
      if (who === 'b2') expect(['b1', 'b3']).toContain(after[port]);
      else expect(after[port]).toBe(who);
    }
    // b2 comes back: the flows that moved stay pinned where they went.
    await lb.apply(doc(4, [service('dns', 'udp', { port: 5353 }, all)]));
    const back = await udp(5353, '20000-20199');
    expect(back).toEqual(after);
  });

  it('forwards a single-port service and a port-range service on the same VIP', async () => {
    await lb.apply(doc(5, [service('web', 'tcp', { port: 80 }, [b2]), service('range', 'udp', { ports: '5300-5400' }, [b3])]));
    expect((await curlFromClient(lab, `http://${VIP}/`)).trim()).toBe('b2');
    expect(await udp(5353, '21000-21009')).toEqual(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [21000 + i, 'b3'])));
  });

  /** Elements in a flow table of the balancer now. */
  async function flowEntries(map: string): Promise<number> {
    const r = await lab.exec(lb.host.ns, ['nft', '-j', 'list', 'map', 'netdev', 'tula', map]);
    const items = (JSON.parse(r.stdout) as { nftables: { map?: { elem?: unknown[] } }[] }).nftables;
    return items.reduce((n, i) => n + (i.map?.elem?.length ?? 0), 0);
  }

  /** Spoofed SYNs (random source addresses) to VIP:80 at `perSecond` for `seconds`, from the client. */
  function synFlood(perSecond: number, seconds: number): Promise<unknown> {
    const flood = lab.spawn(lab.client.ns, [
      'hping3',
      '-q',
      '-S',
      '-p',
      '80',
      '--rand-source',
      '-i',
      `u${Math.round(1e6 / perSecond)}`,
      '-c',
      String(perSecond * seconds),
      VIP,
    ]);
    return new Promise((r) => flood.once('exit', r));
  }

  /** A spoofed-SYN flood (random source addresses) to VIP:80 from the client, as fast as hping3 sends; ends with `stop()`. */
  function floodAtFullRate(): { stop: () => Promise<void> } {
    const flood = lab.spawn(lab.client.ns, ['hping3', '-q', '-S', '-p', '80', '--rand-source', '--flood', VIP]);
    const exited = new Promise((r) => flood.once('exit', r));
    return {
      stop: async () => {
        flood.kill('SIGKILL');
        await exited;
      },
    };
  }

  it.skipIf(noHping)(
    `under a spoofed-SYN flood at the lab's full rate for 30 s, established flows keep their backend and SYN-only entries stay within their bound${noHping ? ` (skipped: ${noHping})` : ''}`,
    async () => {
      // The router forwards the spoofed sources; backends' answers to them die there.
      await lab.exec(lab.router.ns, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.e1.rp_filter=0']);
      // The default table (1,048,576 entries, SYN-only entries kept 5 s). The flood is `hping3 --flood
      // --rand-source`, the fastest this namespace lab sends (client -> router -> balancer): measured on
      // 2026-12-04 on the 2-core machine, shared with other jobs, at 19,200 SYNs a second delivered to the
      // balancer averaged over 34 s (649,834 SYNs; the table held at most 140,393 entries), and at 5,400/s in
      // an earlier run while benchmarks loaded both cores; the test prints its own figure. With the
      // established timeout (900 s) for every pin the table would hold every SYN of the flood; with 5 s it
      // holds about rate x 6.
      const size = 1_048_576;
      const synTimeoutS = 5;
      const map = `flows4_tcp_${size}`;
      await lb.apply(doc(6, [service('syn', 'tcp', { port: 80 }, [b1, b2], size)]));
      const newFlows = async () => (await lb.status()).counters!.services.syn!.newFlows;
      // SYNs the balancer counted (each spoofed SYN is a new flow), over time, and the table's size, over time.
      const syns: { at: number; n: number }[] = [];
      const tables: { from: number; to: number; entries: number }[] = [];
      let sampling = true;
      const countSyns = (async () => {
        while (sampling) {
          syns.push({ at: performance.now(), n: await newFlows() });
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      const countEntries = (async () => {
        while (sampling) {
          const from = performance.now();
          const entries = await flowEntries(map);
          tables.push({ from, to: performance.now(), entries });
        }
      })();
      const t0 = performance.now();
      const flood = floodAtFullRate();
      try {
        // Connections opened 12 s into the flood, when 900 s entries would have filled much of the table.
        await new Promise((r) => setTimeout(r, 12_000));
        const clients = Array.from({ length: 8 }, () =>
          lab.exec(lab.client.ns, [...netlabScript('keepalive-client'), '--target', VIP, '--interval', '500', '--duration', '10000'], {
            allowFailure: true,
          }),
        );
        await new Promise((r) => setTimeout(r, 3000));
        // A backend change: a third backend takes about a third of the Maglev slots.
        await lb.apply(doc(7, [service('syn', 'tcp', { port: 80 }, [b1, b2, b3], size)]));
        for (const c of await Promise.all(clients)) {
          const lines = c.stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { backend?: string; error?: string });
          expect(
            lines.filter((l) => l.error),
            c.stdout,
          ).toEqual([]);
          expect(new Set(lines.map((l) => l.backend)).size, c.stdout).toBe(1);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 30_000 - (performance.now() - t0))));
      } finally {
        await flood.stop();
        sampling = false;
        await Promise.all([countSyns, countEntries]);
      }
      const flooded = (performance.now() - t0) / 1000;
      const total = syns.at(-1)!.n - syns[0]!.n;
      console.log(
        `SYN flood: ${total} SYNs counted in ${flooded.toFixed(1)} s (${Math.round(total / flooded)}/s); flow table at most ${Math.max(...tables.map((t) => t.entries))} entries in ${tables.length} readings`,
      );
      // The flood was large enough to matter: with 900 s pins it would have left more entries than any reading can hold
      // (by half again: on a loaded machine a reading takes seconds, and in one CI run the largest held 0.51 of the flood).
      expect(total).toBeGreaterThan(1.5 * Math.max(...tables.map((t) => t.entries)));
      // Each reading holds only flows whose SYN came within synTimeoutS (+ up to 1 s until the kernel
      // collects expired entries, + 1 s of slack) before it began, plus the 8 established connections.
      for (const t of tables) {
        const before = syns.filter((x) => x.at <= t.from - (synTimeoutS + 2) * 1000).at(-1) ?? syns[0]!;
        const after = syns.find((x) => x.at >= t.to) ?? syns.at(-1)!;
        expect(t.entries, `reading at ${((t.from - t0) / 1000).toFixed(1)} s`).toBeLessThanOrEqual(after.n - before.n + 8);
      }
      expect(Math.max(...tables.map((t) => t.entries))).toBeLessThan(size);
      expect((await lb.status()).counters!.services.syn!.flowTableFull).toBe(0);
    },
    120_000,
  );

  it.skipIf(noHping)(`counts new flows a full flow table could not pin${noHping ? ` (skipped: ${noHping})` : ''}`, async () => {
    await lb.apply(doc(8, [service('full', 'tcp', { port: 80 }, [b1, b2], 64)]));
    await synFlood(100, 3);
    const full = (await lb.status()).counters!.services.full!.flowTableFull;
    // 300 SYNs into 64 entries.
    expect(full).toBeGreaterThan(100);
  });
});
