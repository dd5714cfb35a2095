import { router } from '../../trpc.ts';
import { discoverSso } from './discover.ts';
import { getSso } from './get.ts';
import { removeSso } from './remove.ts';
import { saveSso } from './save.ts';

/** Single sign-on with OpenID Connect, per organisation (sso.ts has the sign-in side). */
export const ssoRouter = router({ get: getSso, save: saveSso, remove: removeSso, discover: discoverSso });
