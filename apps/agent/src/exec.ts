// Runs programs with argument arrays, never through a shell.
import { spawn } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly command: string[],
    readonly result: RunResult,
  ) {
    super(`${command.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
}

export interface RunOptions {
  input?: string;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
  /** Aborting kills the program (SIGTERM) and rejects. */
  signal?: AbortSignal;
}

export function run(command: string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 60_000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new Error(`cannot run ${file}: ${e.message}`)));
    child.on('close', (code, signal) => {
      const result = {
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() + (signal ? `\nkilled by ${signal}` : ''),
        code: code ?? 1,
      };
      if (result.code !== 0 && !options.allowFailure) reject(new CommandError(command, result));
      else resolve(result);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
