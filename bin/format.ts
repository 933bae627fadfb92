/** Plain-text output of the operator commands: aligned tables, ages and one-line previews. */

/** Left-aligned columns, two spaces apart; numbers right-aligned. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map(String))];
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** How long ago `at` was, short: `4s`, `12m`, `3h`, `2d`. */
export function age(at: number | undefined, now = Date.now()): string {
  if (at === undefined) return '-';
  return span(Math.max(0, now - at)) + ' ago';
}

export function span(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 1_000)}s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)}m`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)}h`;
  return `${Math.round(ms / 86_400_000)}d`;
}

/** A value as one short line (JSON, cut at `max` characters, control characters escaped). */
export function preview(value: unknown, max = 40): string {
  if (value === undefined) return '';
  const text = (typeof value === 'string' ? value : JSON.stringify(value)) ?? '';
  const flat = text.replace(/[\u0000-\u001f]+/g, ' ');
  return flat.length > max ? flat.slice(0, max - 1) + '…' : flat;
}

export function isoTime(at: number | undefined): string {
  return at === undefined ? '-' : new Date(at).toISOString();
}
