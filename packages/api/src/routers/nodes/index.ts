import { router } from '../../trpc.ts';
import { setAnnounce } from './announce.ts';
import { deleteNode } from './delete.ts';
import { drainNode } from './drain.ts';
import { getNode } from './get.ts';
import { listNodes } from './list.ts';
import { pageNodes } from './page.ts';
import { revokeNode } from './revoke.ts';
import { rotateCredential } from './rotate-credential.ts';
import { setNodeRole } from './set-role.ts';
import { undrainNode } from './undrain.ts';
import { upgradeNode } from './upgrade.ts';

export const nodesRouter = router({
  list: listNodes,
  page: pageNodes,
  get: getNode,
  rotateCredential,
  revoke: revokeNode,
  delete: deleteNode,
  setRole: setNodeRole,
  setAnnounce,
  drain: drainNode,
  undrain: undrainNode,
  upgrade: upgradeNode,
});
