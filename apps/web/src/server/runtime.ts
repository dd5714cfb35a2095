import type { PanelServices } from '@tula/api';
import type { AgentGateway, KeyedLimiter } from '@tula/gateway';

/**
 * The long-lived parts of the panel process (database, bus, auth, agent
 * gateway). server.ts creates them before Next handles a request; route
 * handlers, which Next bundles separately, find them on globalThis.
 */
export interface PanelRuntime extends PanelServices {
  gateway: AgentGateway;
  /** Enrollment attempts per client address (brute-force limit). */
  enrollAttempts: KeyedLimiter;
  /** The agent's release files served under /download (apps/agent/dist/release). */
  agentReleaseDir: string;
  /** Whether /dev/outbox shows the mail that had no SMTP server to go to. */
  outboxVisible: boolean;
}

const KEY = Symbol.for('tula.panel.runtime');
type WithRuntime = typeof globalThis & { [KEY]?: PanelRuntime };

export function setPanelRuntime(runtime: PanelRuntime): void {
  (globalThis as WithRuntime)[KEY] = runtime;
}

export function panelRuntime(): PanelRuntime {
  const runtime = (globalThis as WithRuntime)[KEY];
  if (!runtime) {
    throw new Error('The panel runtime is not initialised: start the control panel with `npm start` (apps/web/server.ts), not `next` directly.');
  }
  return runtime;
}

/** Set by server.ts on every request from the socket's address; a client cannot supply it. */
export const CLIENT_ADDRESS_HEADER = 'x-tula-client-address';
