export * from './version.ts';
export * from './ip.ts';
export * from './desired-state.ts';
export * from './json-schema.ts';
export * from './wire.ts';
