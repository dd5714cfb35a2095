// The agent's log lines: plain text for a terminal, or one JSON object per line
// for the journal (TULA_AGENT_LOG_FORMAT=json, set by /etc/default/tula-agent).
export type LogFormat = 'text' | 'json';

export function parseLogFormat(value: string | undefined): LogFormat {
  if (value === undefined || value === '' || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new Error(`TULA_AGENT_LOG_FORMAT must be "text" or "json", not ${JSON.stringify(value)}`);
}

export function logLine(format: LogFormat, message: string, now = new Date()): string {
  if (format === 'json') return JSON.stringify({ time: now.toISOString(), service: 'tula-agent', msg: message });
  return `${now.toISOString()} ${message}`;
}
