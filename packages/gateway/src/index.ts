export { AgentGateway, type GatewayOptions, type GatewayStats } from './gateway.ts';
export { enroll, enrollmentLimiter, ENROLL_FAILED } from './enroll.ts';
export { panelMetrics } from './metrics.ts';
export { DEFAULT_RETENTION, expireHistory, type RetentionPolicy } from './retention.ts';
export { releaseManifest, serveDownload, serveInstallScript, type ReleaseManifest } from './downloads.ts';
