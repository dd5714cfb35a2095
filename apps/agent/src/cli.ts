import { renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isSea } from 'node:sea';
import { parseArgs } from 'node:util';
import { AGENT_VERSION } from './version.ts';
import { buildModel, renderFull, type HostFacts } from '@tula/nft';
import { z } from 'zod';
import { describeError } from './commands/errors.ts';
import { runFromFile } from './commands/run.ts';
import type { Daemon } from './daemon.ts';
import { serveMetrics } from './metrics.ts';
import { logLine, parseLogFormat } from './log.ts';
import { notifyReady } from './systemd.ts';
import { restartIntoNewBinary } from './restart.ts';
import { run as runProgram } from './exec.ts';
import { enroll, EnrollError, loadCredential, saveCredential } from './server/credential.ts';
import { PanelLink } from './server/link.ts';
import { panelUrlProblem } from './server/panel-url.ts';
import { hostName } from './server/host-info.ts';
import { statusReport } from './commands/status.ts';
import { Converger, syntheticFacts } from './dataplane/converge.ts';
import { gatherFacts } from './host/facts.ts';
import { DEFAULT_STATE_DIR, StateDir } from './state-dir.ts';
import { StateFileError, loadStateFile } from './state-file.ts';

/** Each command's usage: printed by `tula-agent <command> --help`, and together by `--help`. */
const USAGE: Record<string, string> = {
  render: `  tula-agent render --state FILE [--facts FILE | --offline]
                                   print the nft script that would be applied (no root needed)
      --offline    do not read this host: use placeholder interfaces and MACs, for
                   rendering on a machine that is not the balancer or backend`,
  validate: `  tula-agent validate --state FILE check a desired-state document and list every problem`,
  apply: `  tula-agent apply --state FILE [--facts FILE] [--dry-run]
                                   converge this host to FILE once; exit 0 only when the kernel holds it`,
  run: `  tula-agent run --state FILE      keep converging: reload FILE on change, run health checks
  tula-agent run --server URL [--token TOKEN] [--name NAME] [--insecure] [--metrics-port N]
                 [--panel-hold-time S]
                                   take the desired state from a Tula panel; the token (used
                                   once, to enroll) is exchanged for a credential kept in the
                                   state directory (mode 0600). URL is https://, or http://
                                   only to this host's loopback unless --insecure`,
  enroll: `  tula-agent enroll --server URL --token TOKEN [--name NAME] [--insecure]
                                   exchange the token for this node's credential, then exit
                                   (already enrolled with URL: nothing to do)`,
  check: `  tula-agent check                 check the service's settings (server, credential, log format,
                                   metrics port) and that nft and ip are installed`,
  status: `  tula-agent status                print, as JSON, the state directory read, whether the agent
                                   is running (its pid, when it last wrote status.json), the
                                   applied version, backend health and counters; warns on
                                   stderr when that status is stale`,
  reset: `  tula-agent reset                 remove everything Tula installed on this host`,
};

const OPTIONS = `Options:
  --state-dir DIR   where the agent keeps what it applied (default ${DEFAULT_STATE_DIR},
                    or TULA_AGENT_STATE_DIR)
  --dry-run         (apply, run) compute and render, but do not touch the kernel
  --facts FILE      (render, apply) use these host facts (interfaces, MACs) instead of
                    reading the host: for tests and troubleshooting
  --offline         (render) read nothing from this host: placeholder interfaces and MACs
  --metrics-port N  (run) serve Prometheus metrics on this port
  --panel-hold-time S
                    (run) when the panel sends nothing for S seconds (it pings every 2 s),
                    take the connection for lost and connect again (5 to 3600, default 30,
                    or TULA_AGENT_PANEL_HOLD_TIME)
  --insecure        (run, enroll, check) allow an http:// panel on another host: the credential and
                    desired states then cross the network unencrypted
  --help            after a command: that command's usage`;

const HELP = `tula-agent ${AGENT_VERSION}: the Tula host agent for DSR balancer and backend hosts

Usage:
${Object.values(USAGE).join('\n')}
  tula-agent --version | --help | <command> --help

${OPTIONS}

Environment (tula-agent.service reads it from /etc/default/tula-agent):
  TULA_SERVER              --server when not given
  TULA_AGENT_STATE_DIR     --state-dir when not given
  TULA_AGENT_METRICS_PORT  --metrics-port when not given
  TULA_AGENT_PANEL_HOLD_TIME  --panel-hold-time when not given
  TULA_AGENT_LOG_FORMAT    text (default) or json: one JSON object per log line
  TULA_AGENT_INSECURE      1: as --insecure
`;

function commandHelp(command: string): string {
  return `Usage:\n${USAGE[command]}\n\n${OPTIONS}\n`;
}

const FactsFile = z.object({
  interfaces: z.record(z.string(), z.object({ mac: z.string() })),
  serviceInterfaces: z.record(z.string(), z.string()),
  neighbours: z.record(z.string(), z.string()).default({}),
  unhealthy: z.array(z.string()).default([]),
});

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return 0;
  }
  if (command === 'help' && rest[0] !== undefined && rest[0] in USAGE) {
    process.stdout.write(commandHelp(rest[0]));
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command in USAGE && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      state: { type: 'string' },
      'state-dir': { type: 'string' },
      facts: { type: 'string' },
      offline: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      server: { type: 'string' },
      token: { type: 'string' },
      name: { type: 'string' },
      'metrics-port': { type: 'string' },
      'panel-hold-time': { type: 'string' },
      insecure: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const stateDir = new StateDir(values['state-dir'] ?? (process.env.TULA_AGENT_STATE_DIR || DEFAULT_STATE_DIR));
  const server = values.server ?? (values.state ? undefined : process.env.TULA_SERVER || undefined);
  const insecure = values.insecure || process.env.TULA_AGENT_INSECURE === '1';
  const metricsPortText = values['metrics-port'] ?? (process.env.TULA_AGENT_METRICS_PORT || undefined);
  const metricsPort = metricsPortText === undefined ? undefined : Number(metricsPortText);
  if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort > 0 && metricsPort < 65536)) {
    throw new UsageError(`--metrics-port (or TULA_AGENT_METRICS_PORT) must be a port number, not ${JSON.stringify(metricsPortText)}`);
  }
  const holdTimeText = values['panel-hold-time'] ?? (process.env.TULA_AGENT_PANEL_HOLD_TIME || undefined);
  const holdTimeS = holdTimeText === undefined ? undefined : Number(holdTimeText);
  // Above the panel's 2 s ping with room for a stalled panel (its agents wait for it through 7 s and more).
  if (holdTimeS !== undefined && !(Number.isFinite(holdTimeS) && holdTimeS >= 5 && holdTimeS <= 3600)) {
    throw new UsageError(
      `--panel-hold-time (or TULA_AGENT_PANEL_HOLD_TIME) must be seconds from 5 to 3600, not ${JSON.stringify(holdTimeText)}`,
    );
  }
  const logFormat = (() => {
    try {
      return parseLogFormat(process.env.TULA_AGENT_LOG_FORMAT);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  })();
  const needState = () => {
    if (!values.state) throw new UsageError(`${command} needs --state FILE`);
    return loadStateFile(values.state);
  };

  switch (command) {
    case 'validate': {
      const state = await needState();
      process.stdout.write(`${values.state}: valid (version ${state.version})\n`);
      return 0;
    }
    case 'render': {
      const state = await needState();
      let facts: HostFacts;
      if (values.facts) facts = FactsFile.parse(JSON.parse(await readFile(values.facts, 'utf8')));
      else if (values.offline) facts = { ...syntheticFacts(state), unhealthy: [] };
      else facts = { ...(await gatherFacts(state, { probe: false })), unhealthy: [] };
      const model = buildModel(state, facts);
      for (const w of model.warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(renderFull(model));
      return 0;
    }
    case 'apply': {
      const state = await needState();
      const facts = values.facts ? FactsFile.parse(JSON.parse(await readFile(values.facts, 'utf8'))) : undefined;
      const converger = new Converger({
        stateDir,
        dryRun: values['dry-run'],
        log: (m) => process.stderr.write(`${m}\n`),
        ...(facts ? { facts } : {}),
      });
      const r = await converger.converge(state, [], { verifyKernel: true });
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      const what = r.changed ? (r.replacedTables.length ? `rebuilt ${r.replacedTables.join(', ')}` : 'updated') : 'already in place';
      process.stdout.write(`version ${r.version}: ${what}${values['dry-run'] ? ' (dry run)' : ''}\n`);
      return 0;
    }
    case 'enroll': {
      if (!server || !values.token) throw new UsageError('enroll needs --server URL and --token TOKEN');
      const urlProblem = panelUrlProblem(server, insecure);
      if (urlProblem) throw new UsageError(urlProblem);
      const log = (m: string) => process.stderr.write(`${m}\n`);
      const enrolled = loadCredential(stateDir, log);
      if (enrolled) {
        if (enrolled.server !== panelUrl(server)) throw new UsageError(otherPanel(enrolled.server, stateDir));
        process.stdout.write(`already enrolled with ${enrolled.server} as node ${enrolled.nodeId}; the token was not used\n`);
        return 0;
      }
      const credential = await enrollNode(stateDir, panelUrl(server), values.token, values.name);
      process.stdout.write(`enrolled as node ${credential.nodeId}; credential saved in ${stateDir.file('credential.json')}\n`);
      return 0;
    }
    case 'check': {
      const problems: string[] = [];
      if (!server) problems.push('TULA_SERVER (or --server) is not set: the URL of the Tula panel');
      else {
        const url = URL.canParse(server) ? new URL(server) : undefined;
        const urlProblem =
          !url || !['http:', 'https:'].includes(url.protocol)
            ? `TULA_SERVER is not an http(s) URL: ${JSON.stringify(server)}`
            : panelUrlProblem(server, insecure);
        if (urlProblem) problems.push(urlProblem);
        else {
          const credential = loadCredential(stateDir, (m) => problems.push(m));
          if (!credential)
            problems.push(`not enrolled: no ${stateDir.file('credential.json')} (run: tula-agent enroll --server ${server} --token TOKEN)`);
          else if (credential.server !== panelUrl(server)) problems.push(otherPanel(credential.server, stateDir));
        }
      }
      for (const [program, pkg] of [
        ['nft', 'nftables'],
        ['ip', 'iproute2'],
      ] as const) {
        const r = await runProgram([program, '-V'], { allowFailure: true }).catch(() => undefined);
        if (!r || r.code !== 0) problems.push(`${program} is missing: install the ${pkg} package`);
      }
      for (const p of problems) process.stderr.write(`tula-agent check: ${p}\n`);
      if (problems.length) return 2;
      process.stdout.write(`configuration OK: panel ${server}, state in ${stateDir.path}\n`);
      return 0;
    }
    case 'run': {
      if (!values.state === !server) throw new UsageError('run needs --state FILE or --server URL (or TULA_SERVER)');
      const urlProblem = server === undefined ? undefined : panelUrlProblem(server, insecure);
      if (urlProblem) throw new UsageError(urlProblem);
      const log = (m: string) => console.log(logLine(logFormat, m));
      // Without systemd (install.sh --no-systemd), whoever stops the agent reads its pid here.
      // Written beside and renamed: a reader never sees the file empty.
      if (process.env.TULA_AGENT_PID_FILE) {
        writeFileSync(`${process.env.TULA_AGENT_PID_FILE}.new`, `${process.pid}\n`);
        renameSync(`${process.env.TULA_AGENT_PID_FILE}.new`, process.env.TULA_AGENT_PID_FILE);
      }
      let restarting = false;
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          log(`${signal}: stopping; the data plane stays as it is`);
          stop();
        });
      }
      let daemon: Daemon;
      let link: PanelLink | undefined;
      if (values.state) {
        daemon = await runFromFile({ stateFile: values.state, stateDir, dryRun: values['dry-run'], log }, stopped);
      } else {
        stateDir.ensure();
        let credential = loadCredential(stateDir, log);
        if (credential && credential.server !== panelUrl(server!)) throw new UsageError(otherPanel(credential.server, stateDir));
        if (!credential) {
          if (!values.token) throw new UsageError('this host is not enrolled yet: give --token (from the panel: Fleet > Add a node)');
          credential = await enrollNode(stateDir, panelUrl(server!), values.token, values.name);
          log(`enrolled as node ${credential.nodeId}; credential saved in ${stateDir.file('credential.json')}`);
        }
        link = new PanelLink({
          credential,
          stateDir,
          dryRun: values['dry-run'],
          log,
          // Only a single executable can replace itself; from source there is no binary of its own.
          binary: isSea() ? process.execPath : undefined,
          ...(holdTimeS !== undefined && { holdTimeMs: holdTimeS * 1000 }),
          restart: () => {
            restarting = true;
            stop();
          },
        });
        link.start();
        daemon = link.daemon;
      }
      void daemon.firstConvergence.then(({ version, error }) =>
        notifyReady(error ? `version ${version} refused, previous rules kept: ${error}` : `applied version ${version}`, log),
      );
      const metrics = metricsPort ? serveMetrics(daemon, metricsPort, log) : undefined;
      await stopped;
      metrics?.close();
      if (link) await link.stop();
      else await daemon.stop();
      if (restarting) restartIntoNewBinary(log);
      return 0;
    }
    case 'status': {
      const report = await statusReport(stateDir);
      for (const w of report.notices) process.stderr.write(`tula-agent status: ${w}\n`);
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return 0;
    }
    case 'reset':
      await new Converger({ stateDir }).reset();
      process.stdout.write('removed everything Tula installed on this host\n');
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

/** The panel's URL as enrollment records it (the credential file's `server`). */
function panelUrl(server: string): string {
  return server.replace(/\/+$/, '');
}

function otherPanel(enrolledWith: string, stateDir: StateDir): string {
  return `this host is enrolled with ${enrolledWith}; remove ${stateDir.file('credential.json')} to enroll with another panel`;
}

async function enrollNode(stateDir: StateDir, server: string, token: string, name: string | undefined) {
  const credential = await enroll(server, { token, name: name ?? hostName().split('.')[0]!.slice(0, 63), hostname: hostName() });
  saveCredential(stateDir, credential);
  return credential;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // The command's own usage when there is one: the whole help pushed the error off a small screen.
      const command = process.argv[2];
      const usage = command !== undefined && command in USAGE ? `${commandHelp(command)}(tula-agent --help lists every command)\n` : HELP;
      process.stderr.write(`tula-agent: ${(err as Error).message}\n\n${usage}`);
      process.exitCode = 2;
    } else if (err instanceof EnrollError) {
      process.stderr.write(`tula-agent: ${err.message}\n`);
      process.exitCode = 1;
    } else if (err instanceof StateFileError) {
      process.stderr.write(`tula-agent: ${err.message}\nNothing was changed on this host.\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`tula-agent: ${describeError(err)}\n`);
      process.exitCode = 1;
    }
  },
);
