// The control-panel process: one HTTP server for the UI, the API and the agent
// gateway (WebSocket, /agent). Start it with `npm start` from the repository root.
import { createServer, type IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { authSecret, createAuth, createMailer, smtpServer, startAlertTicker, startRolloutTicker, webhookSecretBox } from '@tula/api';
import {
  bgpPasswordBox,
  clientAddress,
  sealStoredPeerPasswords,
  LocalBus,
  PostgresBus,
  SharedLimiter,
  sha256,
  TrustedProxies,
  type Bus,
} from '@tula/control';
import { openDatabase } from '@tula/db';
import { AgentGateway, agentDownloadsAvailable, enrollmentLimiter } from '@tula/gateway';
import type { LabState } from '@tula/api';
import type { LocalLab } from '@tula/lab';
import next from 'next';
import { readPanelEnv } from './src/server/env.ts';
import { CLIENT_ADDRESS_HEADER, setPanelRuntime } from './src/server/runtime.ts';

// The panel logs to stdout and stderr. When whatever reads them goes away (a log shipper that
// restarted, a parent that died), writing fails with EPIPE: unhandled, that is an uncaught exception,
// which Next logs to the same closed pipe, and so on without end; the process answered nothing more
// and ignored SIGTERM. A log stream that fails cannot be told so: the panel goes on without it.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

function fail(err: unknown): never {
  console.error(`tula: the control panel cannot start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

const env = (() => {
  try {
    return readPanelEnv();
  } catch (err) {
    fail(err);
  }
})();
const dev = env.NODE_ENV !== 'production';
const trustedProxies = (() => {
  try {
    return new TrustedProxies(env.TULA_TRUSTED_PROXIES);
  } catch (err) {
    fail(err);
  }
})();
const publicUrl = (env.TULA_PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/$/, '');

const db = await openDatabase({ migrate: true }).catch(fail);
const applied = db.migrations?.applied ?? [];
console.log(
  `database: ${db.kind === 'embedded' ? `embedded PostgreSQL in ${process.env.TULA_DATA_DIR || '.tula'}` : 'PostgreSQL server from DATABASE_URL'}` +
    (applied.length ? `, applied ${applied.length} migration(s)` : ', schema up to date'),
);
// Replicas share a server database and hear each other through it; the embedded one serves one process.
const bus: Bus = db.kind === 'server' ? await PostgresBus.start(db.pool, (m) => console.error(m)).catch(fail) : new LocalBus();
const mailer = createMailer(db, env.TULA_SMTP_URL, env.TULA_MAIL_FROM);
console.log(
  mailer.kind === 'outbox'
    ? `mail: not sent (no TULA_SMTP_URL); invitations and password resets are kept in the panel, where each organisation's owners read them under Team → Outbox${dev ? ' (all of it: /dev/outbox, from this machine)' : ''}`
    : `mail: sent through the SMTP server at ${smtpServer(env.TULA_SMTP_URL!)}, from ${env.TULA_MAIL_FROM}`,
);
const secret = await authSecret(db, env.TULA_AUTH_SECRET);
const secrets = webhookSecretBox(secret);
const auth = createAuth({
  db,
  mailer,
  rateLimits: { signUpPerMinute: env.TULA_SIGNUPS_PER_MINUTE, signInPerMinute: env.TULA_SIGNINS_PER_MINUTE },
  clientAddressHeader: CLIENT_ADDRESS_HEADER,
  baseURL: publicUrl,
  // Without TULA_PUBLIC_URL the panel is at http://localhost:PORT, and a browser opened at 127.0.0.1 or [::1]
  // reaches the same process: its sign-ins failed the Origin check, shown as a wrong password.
  ...(env.TULA_PUBLIC_URL ? {} : { trustedOrigins: [`http://127.0.0.1:${env.PORT}`, `http://[::1]:${env.PORT}`] }),
  secret,
  secureCookies: publicUrl.startsWith('https:'),
});
const peerPasswords = bgpPasswordBox(secret);
// BGP peer passwords saved before they were sealed: sealed now, and the nodes' documents with them.
for (const { nodeIds } of await sealStoredPeerPasswords(db, peerPasswords).catch(fail)) {
  console.log(`bgp: sealed the stored peer passwords of ${nodeIds.length} node(s)`);
  await bus.publish({ kind: 'nodes', nodeIds });
}
const agentReleaseDir = env.TULA_AGENT_RELEASE_DIR ?? fileURLToPath(new URL('../agent/dist/release', import.meta.url));
const gateway = new AgentGateway(db, bus, {
  releaseDir: agentReleaseDir,
  peerPasswords,
  retention: {
    rawHours: env.TULA_COUNTER_RETENTION_HOURS,
    minuteDays: env.TULA_MINUTE_RETENTION_DAYS,
    hourDays: env.TULA_HOUR_RETENTION_DAYS,
    historyDays: env.TULA_HISTORY_RETENTION_DAYS,
    alertDays: env.TULA_ALERT_RETENTION_DAYS,
    deliveryDays: env.TULA_DELIVERY_RETENTION_DAYS,
  },
});
// Staged rollouts move on here, on every replica; the organisation's lock lets one act at a time.
const stopRollouts = startRolloutTicker(db, bus);
// Alerts too: each organisation is evaluated under its own lock, deliveries are claimed row by row.
const stopAlerts = startAlertTicker(db, secrets, mailer, publicUrl, {
  delivery: { retryBaseMs: env.TULA_ALERT_RETRY_BASE_MS },
});
const runtime = {
  db,
  bus,
  auth,
  mailer,
  gateway,
  liveCounters: gateway.liveCounters,
  enrollAttempts: enrollmentLimiter(db, env.TULA_ENROLLMENTS_PER_MINUTE),
  inviteAttempts: new SharedLimiter(db, 'invite', env.TULA_INVITATIONS_PER_HOUR, 3600),
  startedAt: new Date(),
  publicUrl,
  secrets,
  peerPasswords,
  agentReleaseDir,
  agentDownloads: () => agentDownloadsAvailable(agentReleaseDir),
  limits: { nodes: env.TULA_TRIAL_MAX_NODES, services: env.TULA_TRIAL_MAX_SERVICES },
  outboxVisible: mailer.kind === 'outbox' && dev,
  metricsTokenHash: env.TULA_METRICS_TOKEN ? sha256(env.TULA_METRICS_TOKEN) : undefined,
  // 'starting' from the first request on, so no health check reads 'off' before the lab has begun.
  labState: (env.TULA_LAB === '1'
    ? { state: 'starting', detail: 'checking for root and nftables' }
    : { state: 'off', detail: 'TULA_LAB is not 1 (npm start sets it)' }) as LabState,
  lab: undefined as LocalLab | undefined,
};
setPanelRuntime(runtime);

const app = next({ dev, dir: fileURLToPath(new URL('.', import.meta.url)), hostname: env.HOST, port: env.PORT });
await app.prepare();
const handle = app.getRequestHandler();
const upgradeNext = app.getUpgradeHandler();

// The one client address every limit counts (sign-up, sign-in, reset, enrollment, invitations, agents).
const clientOf = (req: IncomingMessage) => clientAddress(req.socket.remoteAddress, req.headers, trustedProxies);
const server = createServer((req, res) => {
  req.headers[CLIENT_ADDRESS_HEADER] = clientOf(req);
  void handle(req, res);
});
server.on('upgrade', (req, socket, head) => {
  if (req.url?.split('?')[0] === '/agent') void gateway.handleUpgrade(req, socket, head, clientOf(req));
  else void upgradeNext(req, socket, head);
});

const labAbort = new AbortController();
let labStarting: Promise<void> | undefined;
server.listen(env.PORT, env.HOST, () => {
  console.log(
    `Tula control panel on http://localhost:${env.PORT} (${dev ? 'development' : 'production'}); agents connect to ${publicUrl.replace(/^http/, 'ws')}/agent`,
  );
  if (env.TULA_LAB === '1') labStarting = startLab();
});

// The lab's code (namespaces, traffic, demo accounts) is loaded only when the lab is on.
const loadLab = () => import('@tula/lab');
/** The command that removes this lab, with its TULA_LAB_* settings when not the defaults (from the lab's code once loaded). */
let labDown = 'sudo npm run lab:down';

async function startLab() {
  const lab = await loadLab().catch((err: Error) => {
    runtime.labState = { state: 'off', detail: `the lab's code is not in this build (${err.message})` };
    console.log(`lab: off, because its code is not in this build (${err.message}). The control panel runs on its own.`);
  });
  if (!lab) return;
  const { LAB_DEMO, labAvailability, startLocalLab } = lab;
  labDown = lab.labDownCommand();
  const unavailable = await labAvailability();
  if (unavailable) {
    runtime.labState = { state: 'off', detail: unavailable };
    console.log(`lab: off, because ${unavailable}. The control panel runs on its own.`);
    return;
  }
  runtime.labState = { state: 'starting', detail: 'building namespaces, enrolling agents, creating services' };
  try {
    runtime.lab = await startLocalLab(runtime, {
      port: env.PORT,
      dataDir: process.env.TULA_DATA_DIR || '.tula',
      log: (m) => console.log(m),
      signal: labAbort.signal,
    });
    runtime.labState = {
      state: 'ready',
      detail: 'traffic flows through the lab services',
      demoLogin: { email: LAB_DEMO.email, password: LAB_DEMO.password },
    };
    console.log(`lab: open ${publicUrl} and sign in as ${LAB_DEMO.email} / ${LAB_DEMO.password}. Ctrl-C removes the lab (or: ${labDown}).`);
  } catch (err) {
    runtime.labState = { state: 'failed', detail: (err as Error).message };
    if (labAbort.signal.aborted) return;
    console.error(`lab: could not start: ${(err as Error).message}. The control panel runs on its own; \`${labDown}\` cleans up.`);
  }
}

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  server.close();
  server.closeAllConnections();
  // Also while the lab is still starting (it stops at its next step), or after it
  // failed half-way: whatever it made goes.
  labAbort.abort();
  await labStarting;
  if (runtime.labState.state !== 'off') {
    console.log('lab: removing namespaces, agents and traffic');
    const removed = await (runtime.lab?.destroy() ?? loadLab().then((l) => l.removeLocalLab())).then(
      () => true,
      (err: Error) => {
        console.error(`lab: cleanup failed (${err.message}); run ${labDown}`);
        return false;
      },
    );
    if (removed) console.log('lab: removed; the panel stops now');
  }
  // After the ticks in flight: closing the database under one fails its transaction.
  await Promise.all([stopRollouts(), stopAlerts()]);
  await gateway.close().catch(() => undefined);
  await bus.close().catch(() => undefined);
  await app.close().catch(() => undefined);
  await db.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
