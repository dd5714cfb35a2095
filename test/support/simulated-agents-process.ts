// One process of a forked simulated fleet (forkSimulatedAgents): connects its
// share of the agents, reports every second, and sends its totals to the parent.
import type { FleetShare, FleetShareStats } from './simulated-agents.ts';
import { connectSimulatedAgents } from './simulated-agents.ts';

const send = (m: FleetShareStats) => process.send!(m);

async function simulate(share: FleetShare) {
  let ackMs: number[] = [];
  const fleet = await connectSimulatedAgents(share.panelUrl, share.nodes, {
    firstIndex: share.firstIndex,
    reportEveryMs: share.reportEveryMs,
    counters: () => share.body,
    onAck: (ms) => ackMs.push(ms),
  });
  send({ type: 'connected' });
  let closedSent = 0;
  setInterval(() => {
    send({ type: 'stats', reports: { ...fleet.reports }, closed: fleet.closed.slice(closedSent), ackMs });
    closedSent = fleet.closed.length;
    ackMs = [];
  }, 1000);
  process.once('SIGTERM', () => {
    fleet.stop();
    process.exit(0);
  });
}

process.once('message', (share: FleetShare) => void simulate(share));
// The parent gone (the benchmark stopped or crashed): nothing left to simulate for.
process.once('disconnect', () => process.exit(0));
