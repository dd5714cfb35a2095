export * from './service.ts';
export * from './token.ts';
export * from './account.ts';
export * from './service-revision.ts';
export * from './audit.ts';
