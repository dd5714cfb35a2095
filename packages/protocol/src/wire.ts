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

/**
 * What is wrong on this host now, sent after hello and whenever it changes.
 * Backends that are not listed pass their checks.
 */
export const StatusReport = z.strictObject({
  type: z.literal('status'),
  failing: z.array(FailingBackend).max(8192),
  /** What the agent could not do or worked around; forwarding runs regardless. Service-specific ones start "service <name>:". */
  warnings: z.array(z.string().min(1).max(1024)).max(1000),
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

export const AgentMessage = z.discriminatedUnion('type', [Hello, Ack, Nack, CountersReport, Rotated, StatusReport, DriftReport]);
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

export const PanelMessage = z.discriminatedUnion('type', [Desired, CountersAck, Rotate]);
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
