/** Product version, shared by panel and agent so each can report the other's. */
export const TULA_VERSION = '0.1.0';
