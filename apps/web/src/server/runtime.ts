import type { PanelServices } from '@tula/api';
import type { SharedLimiter } from '@tula/control';
import type { AgentGateway } from '@tula/gateway';

/**
 * The long-lived parts of the panel process (database, bus, auth, agent
 * gateway). server.ts creates them before Next handles a request; route
 * handlers, which Next bundles separately, find them on globalThis.
 */
export interface PanelRuntime extends PanelServices {
  gateway: AgentGateway;
  /** Enrollment attempts per client address (brute-force limit). */
  enrollAttempts: SharedLimiter;
  /** The agent's release files served under /download (apps/agent/dist/release). */
  agentReleaseDir: string;
  /** Whether /dev/outbox may show the mail that had no SMTP server to go to (development, outbox mailer). */
  outboxVisible: boolean;
  /** sha256 of the bearer token /metrics wants; unset: /metrics is off. */
  metricsTokenHash: string | undefined;
}

const KEY = Symbol.for('tula.panel.runtime');
type WithRuntime = typeof globalThis & { [KEY]?: PanelRuntime };

export function setPanelRuntime(runtime: PanelRuntime): void {
  (globalThis as WithRuntime)[KEY] = runtime;
}

export function panelRuntime(): PanelRuntime {
  const runtime = (globalThis as WithRuntime)[KEY];
  if (!runtime) {
    throw new Error(
      'The panel runtime is not initialised: start the control panel with `npm start` (apps/web/server.ts), not `next` directly.',
    );
  }
  return runtime;
}

/**
 * Set by server.ts on every request to the client address (the socket's peer, or
 * the client a trusted proxy names); whatever a client sends under this name is overwritten.
 */
export const CLIENT_ADDRESS_HEADER = 'x-tula-client-address';
