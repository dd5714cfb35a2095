import { router } from '../../trpc.ts';
import { acceptInvitation } from './accept.ts';
import { invite } from './invite.ts';
import { listTeam } from './list.ts';
import { removeMember } from './remove.ts';
import { teamOutbox } from './outbox.ts';
import { renewInvitation } from './renew-invitation.ts';
import { revokeInvitation } from './revoke-invitation.ts';
import { setMemberRole } from './set-role.ts';

export const teamRouter = router({
  list: listTeam,
  invite,
  accept: acceptInvitation,
  setRole: setMemberRole,
  remove: removeMember,
  revokeInvitation,
  renewInvitation,
  outbox: teamOutbox,
});
