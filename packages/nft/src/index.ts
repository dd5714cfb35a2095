export * from './maglev.ts';
export * from './model.ts';
export * from './render.ts';
export { fnv1a32 } from './hash.ts';
export * from './lookup-change.ts';
