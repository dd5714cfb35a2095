import { serveDownload } from '@tula/gateway';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/** The agent's release files, their SHA256SUMS and manifest.json (public: install.sh fetches them). */
export async function GET(_req: Request, { params }: { params: Promise<{ file: string }> }) {
  return serveDownload(panelRuntime().agentReleaseDir, (await params).file);
}
