// The agent <-> control panel protocol, over one WebSocket per agent at /agent.
// Every frame is one JSON message, validated on receipt by both sides.
import { z } from 'zod';
import { DesiredState, TunnelType } from './desired-state.ts';

export const PROTOCOL_VERSION = 1;
/** Largest frame an agent may send (counters of a big balancer fit easily). */
export const MAX_AGENT_FRAME_BYTES = 1024 * 1024;
/** Largest frame the panel sends (a desired state of 20,000 services). */
export const MAX_PANEL_FRAME_BYTES = 64 * 1024 * 1024;

const Name = z.string().min(1).max(253);
const Count = z.int().min(0);

export const Capabilities = z.strictObject({
  /** Tunnel types the kernel can create. */
  tunnels: z.array(TunnelType),
  nftVersion: z.string().max(64).nullable(),
  kernel: z.string().max(128),
  canBalance: z.boolean(),
  canServe: z.boolean(),
});
export type Capabilities = z.infer<typeof Capabilities>;

// ---- agent -> panel --------------------------------------------------------

export const Hello = z.strictObject({
  type: z.literal('hello'),
  protocol: z.int().min(1),
  nodeId: z.string().min(1).max(64),
  agentVersion: z.string().max(64),
  hostname: Name,
  /** Addresses of this host, so the panel can tell which backends it serves. */
  addresses: z.array(z.union([z.ipv4(), z.ipv6()])).max(256),
  appliedVersion: z.int().min(0).nullable(),
  appliedHash: z.string().max(128).nullable(),
  capabilities: Capabilities,
});

export const Ack = z.strictObject({ type: z.literal('ack'), version: z.int().min(0), hash: z.string().max(128) });
export const Nack = z.strictObject({ type: z.literal('nack'), version: z.int().min(0), error: z.string().max(4096) });

const TrafficDelta = { packets: Count, bytes: Count };
export const CountersReport = z.strictObject({
  type: z.literal('counters'),
  /** Random per agent process; with seq it identifies a report, so a resent one is counted once. */
  boot: z.string().min(1).max(64),
  seq: z.int().min(1),
  /** When the deltas end (ms since epoch, agent clock). */
  at: z.int().min(0),
  /**
   * When the deltas begin (ms since epoch, agent clock): the previous report's
   * `at`. The panel spreads a report over the seconds it covers, so a report
   * that covers two seconds (a late acknowledgement) or thirty-five (a paused
   * agent) is a rate over its interval, not one second's spike. Optional: an
   * agent without it has its report counted in the second of `at`.
   */
  from: z.int().min(0).optional(),
  services: z
    .array(
      z.strictObject({
        name: z.string().max(63),
        ...TrafficDelta,
        newFlows: Count,
        drops: Count,
        backends: z
          .array(z.strictObject({ address: z.string().max(64), ...TrafficDelta, newFlows: Count, healthy: z.boolean().nullable() }))
          .max(8192),
      }),
    )
    .max(20_000),
  /** Return-path traffic leaving this host from each VIP. */
  vips: z.array(z.strictObject({ vip: z.string().max(64), ...TrafficDelta })).max(4096),
});
export type CountersReport = z.infer<typeof CountersReport>;

/** The agent saved a rotated credential; the panel may switch to it. */
export const Rotated = z.strictObject({ type: z.literal('rotated') });

/** A backend this balancer does not send new flows to, and why. */
export const FailingBackend = z.strictObject({
  service: z.string().min(1).max(63),
  address: z.string().max(64),
  /** When it stopped taking traffic (ms since epoch, agent clock). */
  since: z.int().min(0),
  /** The last check's error ("connection refused", "HTTP 503, expected 200") or why it cannot be reached ("no MAC known"). */
  error: z.string().max(512).nullable(),
});
export type FailingBackend = z.infer<typeof FailingBackend>;

/** How this balancer announces its VIPs right now (docs/ha.md); absent when it has no announcement settings. */
export const AnnounceReport = z.strictObject({
  vips: z
    .array(
      z.strictObject({
        vip: z.string().max(64),
        via: z.enum(['bgp', 'vrrp']),
        /** Announced over BGP (or, with VRRP, allowed to own it). */
        fit: z.boolean(),
        /** Why it is withdrawn: draining, apply failed, agent stopping, no healthy backend, not in the kernel. */
        reason: z.string().max(64).optional(),
      }),
    )
    .max(4096),
  bgp: z
    .strictObject({
      running: z.boolean(),
      peers: z
        .array(
          z.strictObject({ address: z.string().max(64), established: z.boolean(), state: z.string().max(64), info: z.string().max(256) }),
        )
        .max(64),
    })
    .optional(),
  /** owner: this balancer holds the VRRP VIPs now (MASTER); otherwise BACKUP or out of the group. */
  vrrp: z.strictObject({ running: z.boolean(), owner: z.boolean() }).optional(),
  errors: z.array(z.string().max(1024)).max(16),
  /** No packet reached this balancer's services for the last 5 s (a drained balancer carries no flows any more). */
  idle: z.boolean().optional(),
});
export type AnnounceReport = z.infer<typeof AnnounceReport>;

/**
 * What is wrong on this host now, sent after hello and whenever it changes.
 * Backends that are not listed pass their checks.
 */
export const StatusReport = z.strictObject({
  type: z.literal('status'),
  failing: z.array(FailingBackend).max(8192),
  /** What the agent could not do or worked around; forwarding runs regardless. Service-specific ones start "service <name>:". */
  warnings: z.array(z.string().min(1).max(1024)).max(1000),
  /** Optional so agents from before announcements still speak the protocol. */
  announce: AnnounceReport.optional(),
});
export type StatusReport = z.infer<typeof StatusReport>;

/**
 * The agent found its nft tables changed outside Tula (a flushed map, a deleted or
 * foreign rule) and repaired them. Sent once per convergence that found drift.
 */
export const DriftReport = z.strictObject({
  type: z.literal('drift'),
  /** What differed, one line each, e.g. "netdev tula: set lut holds 0 elements, expected 422". */
  what: z.array(z.string().max(512)).min(1).max(64),
});
export type DriftReport = z.infer<typeof DriftReport>;

/** A version as agents report it (build-release.sh's TULA_AGENT_VERSION takes the same characters). */
export const AgentVersion = z.string().regex(/^[A-Za-z0-9.+~-]{1,64}$/, 'must be 1-64 letters, digits and . + ~ -');

/** Where an upgrade the panel asked for stands on the agent (server/upgrade.ts). */
export const UpgradeProgress = z.strictObject({
  type: z.literal('upgrade-progress'),
  /** The version being installed. */
  version: AgentVersion,
  state: z.enum(['downloading', 'restarting', 'failed']),
  /** What it is doing, or why it failed and what to do. */
  message: z.string().max(1024).nullable(),
});
export type UpgradeProgress = z.infer<typeof UpgradeProgress>;

export const AgentMessage = z.discriminatedUnion('type', [
  Hello,
  Ack,
  Nack,
  CountersReport,
  Rotated,
  StatusReport,
  DriftReport,
  UpgradeProgress,
]);
export type AgentMessage = z.infer<typeof AgentMessage>;

// ---- panel -> agent --------------------------------------------------------

export const Desired = z.strictObject({
  type: z.literal('desired'),
  version: z.int().min(0),
  /** sha256 of the document's canonical JSON. */
  hash: z.string().max(128),
  state: DesiredState,
});
export const CountersAck = z.strictObject({ type: z.literal('counters-ack'), boot: z.string(), seq: z.int().min(1) });
export const Rotate = z.strictObject({ type: z.literal('rotate'), credential: z.string().min(16).max(256) });

/** Architectures the release builds agents for (Node's os.arch() names). */
export const AgentArch = z.enum(['x64', 'arm64']);

/**
 * Upgrade to `version`: download the binary of this host's architecture from the
 * panel's /download/<name> and install it only if its SHA-256 is `sha256`. The
 * digest comes over this authenticated socket, not beside the download.
 */
export const UpgradeOrder = z.strictObject({
  type: z.literal('upgrade'),
  version: AgentVersion,
  binaries: z
    .array(
      z.strictObject({
        arch: AgentArch,
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/),
        size: z.int().min(1),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      }),
    )
    .min(1)
    .max(8),
});
export type UpgradeOrder = z.infer<typeof UpgradeOrder>;

export const PanelMessage = z.discriminatedUnion('type', [Desired, CountersAck, Rotate, UpgradeOrder]);
export type PanelMessage = z.infer<typeof PanelMessage>;

/** WebSocket close codes the panel uses; the agent reacts to them. */
export const CloseCode = {
  /** Credential unknown, revoked or wrong: re-enroll. */
  unauthorized: 4401,
  /** A malformed, oversized or unexpected message. */
  badMessage: 4400,
  /** Another connection for the same node took over. */
  replaced: 4409,
  /** Too many connections right now: back off. */
  busy: 4429,
} as const;

// ---- enrollment (HTTP POST /api/agent/enroll) ------------------------------

export const EnrollRequest = z.strictObject({
  token: z.string().min(16).max(256),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . -'),
  hostname: Name,
});
export const EnrollResponse = z.strictObject({ nodeId: z.string(), credential: z.string() });
export type EnrollResponse = z.infer<typeof EnrollResponse>;

// ---- what the panel records about a node's upgrade (Node.upgradeStatus) -----

export const UpgradeStatus = z.strictObject({
  /** requested: by a person or token; sent: to the agent; then the agent's progress; done: it said hello with `target`. */
  state: z.enum(['requested', 'sent', 'downloading', 'restarting', 'done', 'failed']),
  target: z.string().max(64),
  message: z.string().max(1024).nullable(),
  /** When the state was reached (ISO 8601). */
  at: z.iso.datetime(),
});
export type UpgradeStatus = z.infer<typeof UpgradeStatus>;
