import { serveInstallScript } from '@tula/gateway';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/** `curl -fsSL <panel>/install.sh | sudo sh -s -- --token ...` installs the agent from this panel. */
export function GET() {
  const { agentReleaseDir, publicUrl } = panelRuntime();
  return serveInstallScript(agentReleaseDir, publicUrl);
}
