import { router } from '../../trpc.ts';
import { liveCounters } from './counters.ts';
import { liveFleet } from './fleet.ts';

export const liveRouter = router({ counters: liveCounters, fleet: liveFleet });
