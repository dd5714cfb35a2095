import { router } from '../../trpc.ts';
import { listSessions } from './sessions.ts';
import { signOutOtherSessions } from './sign-out-others.ts';

/** The signed-in person's own account (not the organisation's). */
export const accountRouter = router({ sessions: listSessions, signOutOthers: signOutOtherSessions });
