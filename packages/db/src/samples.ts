import type { SeriesKind } from './generated/prisma/enums.ts';

/** A fleet-wide counter sample's values as the code handles them: the BigInt columns of "CounterSample" as numbers. */
export interface SampleValues {
  kind: SeriesKind;
  seriesKey: string;
  at: Date;
  packets: number;
  bytes: number;
  newFlows: number;
  drops: number;
}

/**
 * "CounterWatermark": an agent whose counters are stored through an older second
 * than this holds its organisation's watermark back no further (one stuck agent
 * must not freeze the live chart), and readers ignore a replica's watermark not
 * written for this long (a replica that stopped).
 */
export const WATERMARK_BOUND_MS = 15_000;
