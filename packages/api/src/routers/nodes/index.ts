import { router } from '../../trpc.ts';
import { deleteNode, revokeNode, rotateCredential, setNodeRole } from './credentials.ts';
import { getNode } from './get.ts';
import { listNodes } from './list.ts';
import { pageNodes } from './page.ts';

export const nodesRouter = router({
  list: listNodes,
  page: pageNodes,
  get: getNode,
  rotateCredential,
  revoke: revokeNode,
  delete: deleteNode,
  setRole: setNodeRole,
});
