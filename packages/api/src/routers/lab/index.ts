import { router } from '../../trpc.ts';
import { setBackendServing } from './set-backend-serving.ts';
import { setBalancerAlive } from './set-balancer-alive.ts';
import { labStatus } from './status.ts';

export const labRouter = router({ status: labStatus, setBackendServing, setBalancerAlive });
