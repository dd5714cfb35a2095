import { router } from '../../trpc.ts';
import { liveCounters, liveFleet } from './counters.ts';

export const liveRouter = router({ counters: liveCounters, fleet: liveFleet });
