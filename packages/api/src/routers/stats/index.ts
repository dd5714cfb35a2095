import { router } from '../../trpc.ts';
import { healthTimeline, series } from './series.ts';

export const statsRouter = router({ series, health: healthTimeline });
