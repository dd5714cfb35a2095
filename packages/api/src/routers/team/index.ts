import { router } from '../../trpc.ts';
import { renewInvitation } from './renew-invitation.ts';
import { revokeInvitation } from './revoke-invitation.ts';
import { acceptInvitation, invite, listTeam, removeMember, setMemberRole } from './team.ts';

export const teamRouter = router({ list: listTeam, invite, accept: acceptInvitation, setRole: setMemberRole, remove: removeMember, revokeInvitation, renewInvitation });
