import { router } from '../../trpc.ts';
import { statusProcedure } from './status.ts';

export const healthRouter = router({ status: statusProcedure });
