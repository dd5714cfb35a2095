import type { Bus, SecretBox, SharedLimiter, TrialLimits } from '@tula/control';
import type { Database, SampleValues } from '@tula/db';
import { authenticateApiToken, bearerApiToken, LAST_USE_RESOLUTION_MS } from './api-token.ts';
import type { Auth } from './auth.ts';
import type { Mailer } from './mailer.ts';

/** The local lab, when the panel runs one (README command 1 as root): lab-only controls. */
export interface LabControl {
  /** The demo organisation the lab belongs to; only its members see the controls. */
  organizationId: string;
  status(): LabStatus;
  setBackendServing(name: string, serving: boolean): Promise<void>;
  /** Kills a balancer as a host dies (link down, agent and routing daemon SIGKILLed), or brings it back. */
  setBalancerAlive(name: string, alive: boolean): Promise<void>;
}

export interface LabStatus {
  backends: { name: string; address: string; serving: boolean }[];
  /**
   * Each balancer: alive or killed, whether the router routes the VIP to it now,
   * and the packets per second arriving on its link, one point a second, newest last.
   */
  balancers: { name: string; address: string; alive: boolean; routed: boolean; traffic: { t: number; packetsPerSecond: number }[] }[];
  traffic: boolean;
}

/** Where the local lab is, for the health endpoint and the sign-in page. */
export interface LabState {
  state: 'off' | 'starting' | 'ready' | 'failed';
  /** Why it is off or failed, or what it is doing. */
  detail: string;
  /** The demo login, once the lab has made it (the lab is local to this machine). */
  demoLogin?: { email: string; password: string };
}

/** This replica's stored counter flushes in memory (the agent gateway's counter writer). */
export interface LiveCounterSource {
  /** Identifies this replica's rows in "CounterSample". */
  readonly replica: string;
  /** The newest stored batch id (0 before the first). */
  readonly newestBatch: number;
  /** Stored flushes after a batch id, oldest first, each with its rows by organisation; undefined when memory no longer reaches back that far. */
  since(after: number): { batch: number; rows: Map<string, SampleValues[]> }[] | undefined;
  /** Calls the listener after every stored flush; returns the unsubscribe. */
  onStored(listener: () => void): () => void;
}

/** The long-lived parts of a panel process that procedures use. */
export interface PanelServices {
  db: Database;
  bus: Bus;
  auth: Auth;
  mailer: Mailer;
  limits: TrialLimits;
  /** Invitations per organisation and per client address (shared by every replica). */
  inviteAttempts: SharedLimiter;
  lab?: LabControl;
  labState?: LabState;
  /** Absent in processes without an agent gateway: the live stream then reads everything from the database. */
  liveCounters?: LiveCounterSource;
  startedAt: Date;
  /** Whether this panel serves the agent's install script and files (`npm run build:agent-binary`); absent: not known here. */
  agentDownloads?: () => Promise<boolean>;
  /** The URL agents and browsers reach this panel at (for the agent command line). */
  publicUrl: string;
  /** Seals secrets the panel must read back (webhook signing secrets), under a key derived from the auth secret. */
  secrets: SecretBox;
  /** Seals BGP peer passwords (bgpPasswordBox); the agent gateway opens them for the agents. */
  peerPasswords: SecretBox;
}

export type Role = 'owner' | 'admin' | 'viewer';

/** Per request: the services, and who is asking (a signed-in person or an API token). */
export interface ApiContext extends PanelServices {
  user: { id: string; email: string; name: string } | null;
  /** The API token the request carried (Authorization: Bearer tula_...), when valid. */
  apiToken?: { id: string; name: string; prefix: string } | null;
  /** The signed-in session (for listing and ending the user's other sessions). */
  sessionId?: string;
  /** Why the request's API token was refused (a bad token never falls back to the session). */
  credentialProblem?: string;
  /** The organisation the session (or token) is working in, and the role there. */
  org: { id: string; role: Role; trialEndsAt: Date } | null;
  /** The request's client address (the panel server's one definition); absent for in-process callers. */
  clientAddress?: string;
}

export async function createContext(services: PanelServices, headers: Headers, clientAddress?: string): Promise<ApiContext> {
  const bearer = bearerApiToken(headers);
  if (bearer) {
    const id = await authenticateApiToken(services.db, bearer);
    if ('problem' in id) return { ...services, user: null, org: null, credentialProblem: id.problem, clientAddress };
    return { ...services, user: null, apiToken: id.token, org: id.org, clientAddress };
  }
  const session = await services.auth.api.getSession({ headers }).catch(() => null);
  if (!session) return { ...services, user: null, org: null, clientAddress };
  const user = { id: session.user.id, email: session.user.email, name: session.user.name };
  await markSessionActive(services.db, session.session.id);
  // The session's active organisation, else the user's first (a new account's own).
  const active = (session.session as { activeOrganizationId?: string | null }).activeOrganizationId;
  const m = await services.db.prisma.membership.findFirst({
    where: { userId: user.id, ...(active ? { organizationId: active } : {}) },
    orderBy: { createdAt: 'asc' },
    include: { organization: { select: { trialEndsAt: true } } },
  });
  return {
    ...services,
    user,
    sessionId: session.session.id,
    org: m ? { id: m.organizationId, role: m.role, trialEndsAt: m.organization.trialEndsAt } : null,
    clientAddress,
  };
}

/** Records that the session was used, at most once a minute (a write per request would be a write per API call). */
async function markSessionActive(db: Database, sessionId: string, now = new Date()) {
  await db.prisma.session.updateMany({
    where: { id: sessionId, OR: [{ lastActiveAt: null }, { lastActiveAt: { lt: new Date(now.getTime() - LAST_USE_RESOLUTION_MS) } }] },
    data: { lastActiveAt: now },
  });
}
