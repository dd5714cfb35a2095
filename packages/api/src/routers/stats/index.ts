import { router } from '../../trpc.ts';
import { healthTimeline } from './health.ts';
import { series } from './series.ts';

export const statsRouter = router({ series, health: healthTimeline });
