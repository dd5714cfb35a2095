import { TULA_VERSION } from '@tula/protocol';

// Set by build-release.sh's TULA_AGENT_VERSION (esbuild --define), for tests of
// upgrades that need an older-numbered agent; a build-time constant, so nothing
// at run time changes what an agent reports.
declare const __TULA_AGENT_VERSION__: string | undefined;

/** The version this agent reports to the panel and prints for --version. */
export const AGENT_VERSION: string = typeof __TULA_AGENT_VERSION__ === 'string' ? __TULA_AGENT_VERSION__ : TULA_VERSION;
