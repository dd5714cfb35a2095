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
