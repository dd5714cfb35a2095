export { AgentGateway, type GatewayOptions, type GatewayStats } from './gateway.ts';
export { enroll, enrollmentLimiter, ENROLL_FAILED } from './enroll.ts';
export { metricsText } from './metrics.ts';
