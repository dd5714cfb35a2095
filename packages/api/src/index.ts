export { appRouter, createCaller, type AppRouter } from './root.ts';
export {
  createContext,
  type ApiContext,
  type LabControl,
  type LabState,
  type LabStatus,
  type PanelServices,
  type Role,
} from './context.ts';
export { authSecret, createAuth, type Auth } from './auth.ts';
export { createMailer, smtpServer, type Mailer, type Mail } from './mailer.ts';
export { startRolloutTicker, tickRollouts } from './rollouts.ts';
export { handleHttpApi, openApiDocument, HTTP_API_BASE } from './http-api.ts';
export { startAlertTicker } from './alerts/ticker.ts';
export { evaluateAlerts, evaluateOrganization } from './alerts/evaluate.ts';
export { sendDueDeliveries, retryDelayMs, webhookSecretBox, DEFAULT_DELIVERY, type DeliveryOptions } from './alerts/deliver.ts';
