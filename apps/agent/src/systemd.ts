// systemd integration of `tula-agent run` (Type=notify in tula-agent.service).
//
// Readiness is a datagram "READY=1" on the AF_UNIX socket named by NOTIFY_SOCKET.
// Node has no AF_UNIX datagram sockets, and the npm wrappers of sd_notify are
// native add-ons that a single executable cannot carry, so the agent runs
// systemd's own systemd-notify (argument array, no shell), which is installed
// wherever systemd sets NOTIFY_SOCKET. It waits until the manager has read the
// message (systemd 246 and later), so its early exit loses nothing; the message
// comes from its process, hence NotifyAccess=all in the unit.
import { run } from './exec.ts';

export async function notifyReady(status: string, log: (m: string) => void): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  // A status line is free text for `systemctl status`; keep it to one printable line.
  const line = status.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);
  const r = await run(['systemd-notify', '--ready', `--status=${line}`], { allowFailure: true, timeoutMs: 10_000 }).catch((err: Error) => ({
    code: 1,
    stderr: err.message,
    stdout: '',
  }));
  if (r.code !== 0) log(`could not tell systemd that the agent is ready: ${r.stderr.trim() || `systemd-notify exited ${r.code}`}`);
}
