// Which panel URLs the agent will send its credential to. The enrollment token,
// the node credential and every desired state travel on this connection, so
// plain http:// or ws:// is refused unless the panel is on this very host
// (loopback never leaves it) or the operator says --insecure.
import { isLoopbackHost } from '@tula/protocol';

/** Why the agent must not use `server`, or undefined when it may. */
export function panelUrlProblem(server: string, insecure: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return `--server must be the panel's URL, such as https://panel.example (got "${server}")`;
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'wss:')
    return `--server takes the panel's https:// URL (the agent derives the WebSocket address), not ${url.protocol}//`;
  if (url.protocol !== 'http:' && url.protocol !== 'ws:') return `--server must be an https:// URL (got ${url.protocol}//)`;
  if (insecure || isLoopbackHost(url.hostname))
    return url.protocol === 'ws:' ? `--server takes the panel's http(s):// URL, not ws://` : undefined;
  return (
    `refusing ${url.protocol}//${url.host}: the enrollment token, this node's credential and every desired state would cross the network unencrypted, ` +
    `so anyone on the path could read them or take over this host's load balancing. Put TLS in front of the panel and use https:// ` +
    `(README: "TLS in front of the panel"), or pass --insecure to accept that risk (an isolated lab network).`
  );
}
