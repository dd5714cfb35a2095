import { router } from '../../trpc.ts';
import { auditActors } from './actors.ts';
import { exportAudit } from './export.ts';
import { listAudit } from './list.ts';

export const auditRouter = router({ list: listAudit, actors: auditActors, export: exportAudit });
