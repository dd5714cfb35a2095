// A Prometheus counter (prom-client) whose values are running totals another
// part of the process keeps (the kernel's counters, the gateway's tallies):
// filled from `read` at each scrape. Shared by the panel's and the agent's /metrics.
import { Counter, type Registry } from 'prom-client';

export function mirroredCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => [number, Record<string, string>][],
) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [value, labels] of read()) this.inc(labels, value);
    },
  });
}
