import { router } from '../../trpc.ts';
import { listAudit } from './list.ts';

export const auditRouter = router({ list: listAudit });
