// Drives one bird2 per host (or network namespace) for the agent: its config,
// control socket and pid file live in the agent's state directory. Started
// with `bird -c CONF -s CTL -P PID` (bird daemonises itself), reloaded with
// `birdc -s CTL configure`, stopped with SIGTERM, on which bird closes its
// sessions with a Cease notification so peers drop the routes at once.
import { rmSync } from 'node:fs';
import { run } from '../exec.ts';
import type { StateDir } from '../state-dir.ts';
import { applyConfig, livePid, terminate } from './process.ts';

export interface BgpPeerState {
  /** bird's protocol name, tula_peerN for the Nth peer. */
  name: string;
  /** bird's state: up, start, down... and the BGP state in `info` (Established, Active, Connect...). */
  state: string;
  info: string;
  established: boolean;
}

export class Bird {
  readonly config: string;
  readonly control: string;
  readonly pidFile: string;

  constructor(stateDir: StateDir) {
    this.config = stateDir.file('bird.conf');
    this.control = stateDir.file('bird.ctl');
    this.pidFile = stateDir.file('bird.pid');
  }

  pid(): number | undefined {
    return livePid(this.pidFile, this.control);
  }

  /** Makes bird run `text`: checks it, then starts bird or has the running one reload it. */
  apply(text: string): Promise<'started' | 'reloaded' | 'unchanged'> {
    return applyConfig(
      {
        config: this.config,
        pid: () => this.pid(),
        check: async (candidate) => {
          await run(['bird', '-p', '-c', candidate]);
        },
        start: async () => {
          rmSync(this.control, { force: true });
          await run(['bird', '-c', this.config, '-s', this.control, '-P', this.pidFile]);
        },
        reload: async () => {
          const r = await run(['birdc', '-s', this.control, 'configure']);
          if (!/Reconfigur/.test(r.stdout)) throw new Error(`bird did not take its new configuration: ${r.stdout.trim()}`);
        },
      },
      text,
    );
  }

  /** The BGP sessions as bird sees them; empty when bird is not running; throws when bird does not answer. */
  async peers(): Promise<BgpPeerState[]> {
    if (!this.pid()) return [];
    const r = await run(['birdc', '-s', this.control, 'show', 'protocols'], { timeoutMs: 5000 });
    return parseProtocols(r.stdout).filter((p) => p.name.startsWith('tula_peer'));
  }

  async stop(): Promise<void> {
    const pid = this.pid();
    if (pid) await terminate(pid);
    rmSync(this.control, { force: true });
  }
}

/**
 * `birdc show protocols`, whose Since column is one or two tokens (time, or date and time):
 *   Name       Proto      Table      State  Since         Info
 *   tula_peer1 BGP        ---        up     12:00:01.123  Established
 */
export function parseProtocols(text: string): BgpPeerState[] {
  const out: BgpPeerState[] = [];
  for (const line of text.split('\n')) {
    const [name, proto, , state, ...rest] = line.trim().split(/\s+/);
    if (proto !== 'BGP' || !name || !state) continue;
    while (rest.length && /^\d[\d:.-]*$/.test(rest[0]!)) rest.shift();
    const info = rest.join(' ');
    out.push({ name, state, info, established: info.startsWith('Established') });
  }
  return out;
}
