export { appRouter, createCaller, type AppRouter } from './root.ts';
export { createContext, type ApiContext, type LabControl, type LabState, type PanelServices, type Role } from './context.ts';
export { authSecret, createAuth, type Auth } from './auth.ts';
export { createMailer, type Mailer, type Mail } from './mailer.ts';
export { startRolloutTicker, tickRollouts } from './rollouts.ts';
export { handleHttpApi, openApiDocument, HTTP_API_BASE } from './http-api.ts';
