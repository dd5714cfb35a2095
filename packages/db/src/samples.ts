import type { SeriesKind } from './generated/prisma/enums.ts';

/** A counter sample's values as the code handles them: the BigInt columns of "CounterSample" as numbers. */
export interface SampleValues {
  nodeId: string;
  kind: SeriesKind;
  seriesKey: string;
  at: Date;
  packets: number;
  bytes: number;
  newFlows: number;
  drops: number;
}
