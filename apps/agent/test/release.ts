// The agent's release files (npm run build:agent-binary) for the tests that use
// them: built here when missing or older than their sources, under a lock, so
// test files running at once build them once.
import { execFile } from 'node:child_process';
import { arch } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const RELEASE_DIR = `${repoRoot}apps/agent/dist/release`;
const ARCH = arch() === 'arm64' ? 'arm64' : 'x64';
export const AGENT_BINARY = `${RELEASE_DIR}/tula-agent-linux-${ARCH}`;
export const AGENT_DEB = `${RELEASE_DIR}/tula-agent-linux-${ARCH}.deb`;

/** Why the single executable cannot be built here, or undefined. */
export async function releaseUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux' || !['x64', 'arm64'].includes(arch()))
    return `single executables are built for Linux x64 and arm64, not ${process.platform} ${arch()}`;
  for (const tool of ['dpkg-deb', 'flock']) {
    try {
      await promisify(execFile)('sh', ['-c', 'command -v "$1"', 'sh', tool]);
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

/**
 * Builds this machine's release files when stale; with 'all', also the other
 * architecture's where its Node.js binary can be fetched (build-release.sh
 * --arch all). Resolves to the build's warnings (stderr).
 */
export async function ensureAgentRelease(arches: 'host' | 'all' = 'host'): Promise<string> {
  const { stderr } = await promisify(execFile)(
    'flock',
    [
      '/tmp/tula-agent-release.lock',
      'sh',
      `${repoRoot}apps/agent/packaging/build-release.sh`,
      '--if-stale',
      ...(arches === 'all' ? ['--arch', 'all'] : []),
    ],
    {
      cwd: repoRoot,
      timeout: 900_000,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stderr;
}
