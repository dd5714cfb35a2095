import { router } from '../../trpc.ts';
import { getService, listServices } from './list.ts';
import { createService, deleteService, setBackendState, updateService } from './save.ts';
import { setBackendWeight } from './set-backend-weight.ts';

export const servicesRouter = router({
  list: listServices,
  get: getService,
  create: createService,
  update: updateService,
  delete: deleteService,
  setBackendState,
  setBackendWeight,
});
