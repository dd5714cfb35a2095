export { AgentGateway, type GatewayOptions, type GatewayStats } from './gateway.ts';
export { enroll, enrollmentLimiter } from './enroll.ts';
export { metricsText } from './metrics.ts';
export type { KeyedLimiter } from './rate-limit.ts';
export { releaseManifest, serveDownload, serveInstallScript, type ReleaseManifest } from './downloads.ts';
