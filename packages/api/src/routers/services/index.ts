import { router } from '../../trpc.ts';
import { diffRevisions } from './diff.ts';
import { serviceHistory } from './history.ts';
import { getService, listServices } from './list.ts';
import { previewService } from './preview.ts';
import { rollbackService } from './rollback.ts';
import { createService, deleteService, setBackendState, updateService } from './save.ts';
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
});
