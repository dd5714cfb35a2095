import { router } from '../../trpc.ts';
import { backendTraffic } from './backend-traffic.ts';
import { diffRevisions } from './diff.ts';
import { serviceHistory } from './history.ts';
import { getService } from './get.ts';
import { listServices } from './list.ts';
import { previewService } from './preview.ts';
import { rollbackService } from './rollback.ts';
import { createService } from './create.ts';
import { deleteService } from './delete.ts';
import { setBackendState } from './set-backend-state.ts';
import { updateService } from './update.ts';
import { setBackendWeight } from './set-backend-weight.ts';

export const servicesRouter = router({
  list: listServices,
  get: getService,
  create: createService,
  update: updateService,
  delete: deleteService,
  setBackendState,
  history: serviceHistory,
  diff: diffRevisions,
  rollback: rollbackService,
  preview: previewService,
  setBackendWeight,
  backendTraffic,
});
