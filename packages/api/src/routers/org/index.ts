import { router } from '../../trpc.ts';
import { orgSummary } from './summary.ts';

export const orgRouter = router({ summary: orgSummary });
