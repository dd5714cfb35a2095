import { alertsRouter } from './routers/alerts/index.ts';
import { accountRouter } from './routers/account/index.ts';
import { apiTokensRouter } from './routers/apiTokens/index.ts';
import { auditRouter } from './routers/audit/index.ts';
import { healthRouter } from './routers/health/index.ts';
import { labRouter } from './routers/lab/index.ts';
import { liveRouter } from './routers/live/index.ts';
import { nodesRouter } from './routers/nodes/index.ts';
import { orgRouter } from './routers/org/index.ts';
import { rolloutsRouter } from './routers/rollouts/index.ts';
import { servicesRouter } from './routers/services/index.ts';
import { ssoRouter } from './routers/sso/index.ts';
import { statsRouter } from './routers/stats/index.ts';
import { teamRouter } from './routers/team/index.ts';
import { tokensRouter } from './routers/tokens/index.ts';
import { webhooksRouter } from './routers/webhooks/index.ts';
import { createCallerFactory, router } from './trpc.ts';

export const appRouter = router({
  health: healthRouter,
  tokens: tokensRouter,
  apiTokens: apiTokensRouter,
  account: accountRouter,
  nodes: nodesRouter,
  services: servicesRouter,
  rollouts: rolloutsRouter,
  live: liveRouter,
  org: orgRouter,
  audit: auditRouter,
  stats: statsRouter,
  team: teamRouter,
  lab: labRouter,
  sso: ssoRouter,
  alerts: alertsRouter,
  webhooks: webhooksRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
