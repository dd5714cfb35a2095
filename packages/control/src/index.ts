export * from './compile.ts';
export { loadCompileRows, recompileOrganization } from './recompile.ts';
export { LocalBus, PostgresBus, type Bus, type BusEvent } from './bus.ts';
export { newSecret, sha256, sameHash } from './secrets.ts';
export { DEFAULT_TRIAL_LIMITS, type TrialLimits } from './limits.ts';
