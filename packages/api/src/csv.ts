// CSV (RFC 4180) for exports. Written here because quoting is all it takes: a
// field with a comma, quote or line break is quoted and its quotes doubled.
// Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first)
// gets a leading apostrophe (OWASP "CSV injection").

export type CsvValue = string | number | null | undefined;

export function csvField(v: CsvValue): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Lines end in CRLF, as the RFC says. */
export function toCsv(header: string[], rows: CsvValue[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}
