import { router } from '../../trpc.ts';
import { deleteNode, revokeNode, rotateCredential, setNodeRole } from './credentials.ts';
import { getNode } from './get.ts';
import { listNodes } from './list.ts';

export const nodesRouter = router({
  list: listNodes,
  get: getNode,
  rotateCredential,
  revoke: revokeNode,
  delete: deleteNode,
  setRole: setNodeRole,
});
