// Keeps the routing daemons in line with the balancer's fitness: after every
// convergence (and when the agent stops) the daemon calls update(), which
// computes which VIPs are fit (plan.ts), renders bird's and keepalived's
// configurations and has the daemons run them. Problems with the daemons are
// reported in the status, never fatal to the data plane.
import type { DesiredState } from '@tula/protocol';
import { describeError } from '../commands/errors.ts';
import type { StateDir } from '../state-dir.ts';
import { Bird, type BgpPeerState } from './bird.ts';
import { renderBirdConfig } from './bird-config.ts';
import { Keepalived } from './keepalived.ts';
import { renderKeepalivedConfig } from './keepalived-config.ts';
import { vipFitness, type FitnessInput, type VipFitness } from './plan.ts';

export interface AnnounceStatus {
  vips: VipFitness[];
  bgp?: { running: boolean; peers: (BgpPeerState & { address: string })[] };
  vrrp?: { running: boolean; owner: boolean };
  errors: string[];
}

export interface AnnouncerOptions {
  stateDir: StateDir;
  dryRun?: boolean;
  log: (m: string) => void;
  /** The addresses the VRRP interface holds now (to report ownership). */
  interfaceAddresses?: (ifname: string) => Promise<string[]>;
}

export class Announcer {
  private readonly bird: Bird;
  private readonly keepalived: Keepalived;
  private last: AnnounceStatus = { vips: [], errors: [] };
  private announced = '';

  constructor(private readonly options: AnnouncerOptions) {
    this.bird = new Bird(options.stateDir);
    this.keepalived = new Keepalived(options.stateDir);
  }

  status(): AnnounceStatus {
    return this.last;
  }

  async update(input: FitnessInput): Promise<AnnounceStatus> {
    const vips = vipFitness(input);
    const announce = input.state.balancer?.announce;
    const errors: string[] = [];
    const status: AnnounceStatus = { vips, errors };
    const fit = (via: 'bgp' | 'vrrp') => vips.filter((v) => v.via === via && v.fit).map((v) => v.vip);
    const summary = vips.map((v) => `${v.vip} ${v.fit ? 'announced' : `withdrawn (${v.reason})`}`).join(', ');
    if (summary !== this.announced) {
      this.announced = summary;
      if (summary) this.options.log(`announcements: ${summary}`);
    }
    if (this.options.dryRun) return (this.last = status);

    await this.step(errors, 'bgp', async () => {
      if (!announce?.bgp || input.stopping) return this.bird.stop();
      // bird keeps running with nothing to export (sessions up, ready to announce again).
      await this.bird.apply(renderBirdConfig({ bgp: announce.bgp, vips: fit('bgp') }));
    });
    await this.step(errors, 'vrrp', async () => {
      if (!announce?.vrrp) return this.keepalived.stop();
      const all = vips.filter((v) => v.via === 'vrrp').map((v) => v.vip);
      // Unfit: leave the group, so a fit balancer owns the VIPs.
      if (fit('vrrp').length === 0) await this.keepalived.stop();
      await this.keepalived.releaseStale(announce.vrrp.interface, all);
      if (fit('vrrp').length > 0) await this.keepalived.apply(renderKeepalivedConfig({ vrrp: announce.vrrp, vips: all }));
    });

    if (announce?.bgp) {
      // A bird that does not answer is not a bird that stopped: its sessions are unknown, not down.
      const peers = await this.bird.peers().catch((err: Error) => err);
      const running = this.bird.pid() !== undefined;
      status.bgp = {
        running,
        peers: announce.bgp.peers.map((p, i) => {
          const name = `tula_peer${i + 1}`;
          const seen = peers instanceof Error ? undefined : peers.find((s) => s.name === name);
          const missing =
            peers instanceof Error
              ? { name, state: 'unknown', info: `bird did not answer (${peers.message})`, established: false }
              : { name, state: 'down', info: running ? 'bird has no such session' : 'bird is not running', established: false };
          return { address: p.address, ...(seen ?? missing) };
        }),
      };
    }
    if (announce?.vrrp) {
      const held = (await this.options.interfaceAddresses?.(announce.vrrp.interface).catch(() => [])) ?? [];
      const mine = vips.filter((v) => v.via === 'vrrp');
      status.vrrp = { running: this.keepalived.pid() !== undefined, owner: mine.length > 0 && mine.every((v) => held.includes(v.vip)) };
    }
    return (this.last = status);
  }

  /** Withdraws everything (the agent is stopping): bird and keepalived exit. */
  async stop(state: DesiredState | undefined): Promise<void> {
    if (state) await this.update({ state, model: undefined, applyFailed: false, stopping: true });
    else if (!this.options.dryRun) {
      await this.bird.stop();
      await this.keepalived.stop();
    }
  }

  private async step(errors: string[], what: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (err) {
      const message = `${what}: ${describeError(err)}`;
      errors.push(message);
      this.options.log(`announcements: ${message}`);
    }
  }
}
