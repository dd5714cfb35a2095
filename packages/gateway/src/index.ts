export { AgentGateway, PING_MS, SILENT_LIMIT_MS, type GatewayOptions, type GatewayStats } from './gateway.ts';
export { enroll, enrollmentLimiter, ENROLL_FAILED } from './enroll.ts';
export { panelMetrics } from './metrics.ts';
export { DEFAULT_RETENTION, ensurePartitions, expireHistory, maintainPartitions, type RetentionPolicy } from './retention.ts';
export { agentDownloadsAvailable, releaseManifest, serveDownload, serveInstallScript, type ReleaseManifest } from './downloads.ts';
