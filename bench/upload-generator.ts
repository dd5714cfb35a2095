// The upload generator of the HA capacity benchmark (bench/ha.ts): curl sends
// uploads of one body to one URL, each on a new connection, `parallel` at a time,
// without end (more than any window completes), and prints each one's status,
// connect time and total time as it ends.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function uploadGenerator(o: { dir: string; url: string; bytes: number; parallel: number; pipewait?: boolean }): string[] {
  const body = join(o.dir, 'upload');
  writeFileSync(body, Buffer.alloc(o.bytes, 0x79));
  // stdbuf: curl's status lines go through stdio, block-buffered into a pipe; a capped run would show none for seconds.
  return [
    'stdbuf',
    '-oL',
    'curl',
    '-sS',
    '-Z',
    '--parallel-max',
    String(o.parallel),
    // Without it curl sets CURLOPT_PIPEWAIT: each new transfer waits for an open connection
    // to the host to tell whether it multiplexes, and a closing HTTP/1.1 connection never
    // does, so uploads ran one at a time whatever --parallel-max said (pipewait: the old
    // designs' behaviour, kept for comparison).
    ...(o.pipewait ? [] : ['--parallel-immediate']),
    '-H',
    'Connection: close',
    '--max-time',
    '60',
    '-w',
    '%{http_code} %{time_connect} %{time_total}\n',
    '--data-binary',
    `@${body}`,
    '-o',
    '/dev/null',
    // A URL range: a million uploads, created as curl gets to them (a list of 20,000 ran out within an uncapped window).
    `${o.url}?[1-1000000]`,
  ];
}
