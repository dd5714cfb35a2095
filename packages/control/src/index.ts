export * from './compile.ts';
export { loadCompileRows, recompileNodes, recompileOrganization } from './recompile.ts';
export { LocalBus, PostgresBus, type Bus, type BusEvent } from './bus.ts';
export { newSecret, sha256, sameHash, secretBox, webhookSignature, type SecretBox } from './secrets.ts';
export { DEFAULT_TRIAL_LIMITS, type TrialLimits } from './limits.ts';
export { SharedLimiter } from './shared-limit.ts';
export { clientAddress, limitKey, TrustedProxies } from './client-address.ts';
export { ONLINE_WINDOW_MS, isOnline, onlineWhere } from './presence.ts';
export {
  advanceRollout,
  planBatches,
  revisionForNode,
  stagedServiceRows,
  type RolloutEvent,
  type RolloutProgress,
  type RolloutStatus,
} from './rollout.ts';
export {
  bgpPasswordBox,
  isSealed,
  mapPeerPasswords,
  openDocumentPasswords,
  SEALED_PASSWORD_STANDIN,
  sealStoredPeerPasswords,
  storedPeerPasswords,
} from './peer-passwords.ts';
