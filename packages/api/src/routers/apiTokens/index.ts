import { router } from '../../trpc.ts';
import { createApiToken } from './create.ts';
import { listApiTokens } from './list.ts';
import { revokeApiToken } from './revoke.ts';

/** API tokens (Authorization: Bearer tula_...); not the agents' enrollment tokens (router `tokens`). */
export const apiTokensRouter = router({ create: createApiToken, list: listApiTokens, revoke: revokeApiToken });
