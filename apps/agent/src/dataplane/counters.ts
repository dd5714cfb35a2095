// Reads Tula's counters from the kernel and arranges them by service, backend and VIP.
import { hex, MARK_NEW_FLOW, type DataplaneModel } from '@tula/nft';
import { readSetCounters } from '../kernel/nft.ts';

export interface Traffic {
  packets: number;
  bytes: number;
}
export interface BackendCounters extends Traffic {
  newFlows: number;
}
export interface ServiceCounters extends Traffic {
  newFlows: number;
  drops: number;
  /** New flows the service's full flow table could not pin. */
  flowTableFull: number;
  backends: Record<string, BackendCounters>;
}
export interface CounterSnapshot {
  /** When it was read (ms since epoch). */
  at: number;
  services: Record<string, ServiceCounters>;
  /** Return-path traffic leaving this host from each VIP (backend hosts). */
  vips: Record<string, Traffic>;
}

export async function readSnapshot(model: DataplaneModel): Promise<CounterSnapshot> {
  const snap: CounterSnapshot = { at: Date.now(), services: {}, vips: {} };
  const zero = { packets: 0, bytes: 0 };
  if (model.services.length > 0) {
    const [packets, fresh, drops, full, bPackets, bNew] = await Promise.all(
      ['svc_packets', 'svc_new', 'svc_drops', 'svc_flows_full', 'backend_packets', 'backend_new'].map((s) => readSetCounters('netdev', s)),
    );
    for (const s of model.services) {
      const k = hex(s.mark);
      const p = packets!.get(k) ?? zero;
      snap.services[s.name] = {
        packets: p.packets,
        bytes: p.bytes,
        newFlows: fresh!.get(k)?.packets ?? 0,
        drops: drops!.get(k)?.packets ?? 0,
        flowTableFull: full!.get(k)?.packets ?? 0,
        backends: {},
      };
    }
    for (const b of model.backends) {
      const p = bPackets!.get(hex(b.mark)) ?? zero;
      const svc = snap.services[b.service];
      if (svc)
        svc.backends[b.address] = { packets: p.packets, bytes: p.bytes, newFlows: bNew!.get(hex(MARK_NEW_FLOW | b.mark))?.packets ?? 0 };
    }
  }
  if (model.returnVips.length > 0) {
    const ret = new Map([...(await readSetCounters('inet', 'return4')), ...(await readSetCounters('inet', 'return6'))]);
    for (const vip of model.returnVips) {
      const v = ret.get(vip) ?? zero;
      snap.vips[vip] = { packets: v.packets, bytes: v.bytes };
    }
  }
  return snap;
}

/** How long after the last unpinned flow a full flow table is still reported. */
const FULL_REPORTED_MS = 60_000;

/**
 * Turns the per-service "flow table full" counter into warnings the panel shows
 * (node page, the service's page): which service's table was full, since when,
 * and how many new flows it could not pin. A counter that stops growing is
 * reported for another minute, then forgotten.
 */
export class FlowTableFullWatch {
  private readonly last = new Map<string, number>();
  private readonly full = new Map<string, { since: number; notPinned: number; lastGrew: number }>();

  note(snap: CounterSnapshot): void {
    for (const [name, s] of Object.entries(snap.services)) {
      const before = this.last.get(name);
      this.last.set(name, s.flowTableFull);
      // The first reading (or one after the kernel's counter restarted) is a baseline, not news.
      if (before === undefined || s.flowTableFull < before) continue;
      const grew = s.flowTableFull - before;
      if (grew === 0) continue;
      const f = this.full.get(name);
      if (f) {
        f.notPinned += grew;
        f.lastGrew = snap.at;
      } else this.full.set(name, { since: snap.at, notPinned: grew, lastGrew: snap.at });
    }
    for (const [name, f] of this.full) if (snap.at - f.lastGrew > FULL_REPORTED_MS || !(name in snap.services)) this.full.delete(name);
  }

  warnings(): string[] {
    return [...this.full].map(
      ([name, f]) =>
        `service ${name}: flow table full since ${new Date(f.since).toISOString()}: ${f.notPinned.toLocaleString('en-US')} new flows not pinned (they follow the Maglev table; raise flowTableSize, or lower synTimeoutS under a SYN flood)`,
    );
  }
}
