/** The schedules page: what runs when, in words, the coming and last fires, and a remove action. */
import type { ScheduleInfo } from '../core/schedule/spec.js';
import { html, preview, time, type Html } from './html.js';
import { action, type View } from './layout.js';
import { specAsWritten, specInWords } from './schedule-words.js';

/** A schedule with the fire times the page lists (computed by the handler: croner is async). */
export interface ScheduleRow {
  readonly info: ScheduleInfo;
  readonly upcoming: readonly number[];
}

function ago(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1_000);
  const text = s < 60 ? `${s}s` : s < 3_600 ? `${Math.round(s / 60)}m` : s < 86_400 ? `${Math.round(s / 3_600)}h` : `${Math.round(s / 86_400)}d`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

function fire(at: number, now: number): Html {
  return html`${time(at)} <span class="muted">(${ago(at - now)})</span>`;
}

function bounds(s: ScheduleInfo): Html {
  const parts: Html[] = [];
  if (s.startAt !== undefined) parts.push(html`<li>from ${time(s.startAt)}</li>`);
  if (s.endAt !== undefined) parts.push(html`<li>until ${time(s.endAt)}</li>`);
  if (s.limit !== undefined) parts.push(html`<li>at most ${s.limit} fire(s)</li>`);
  parts.push(html`<li>missed fires: ${s.catchUp === 'all' ? 'all caught up' : s.catchUp === 'latest' ? 'the latest caught up' : 'skipped'}</li>`);
  return html`<ul class="plain">${parts}</ul>`;
}

export function schedulesPage(view: View, rows: readonly ScheduleRow[] | string, now = Date.now()): Html {
  if (typeof rows === 'string') return html`<p class="error">${rows}</p>`;
  if (rows.length === 0) return html`<p class="muted">No schedules. Define them with app.schedule(id, spec, task, args).</p>`;
  const body = rows.map(({ info: s, upcoming }) => {
    const next = upcoming.length === 0 ? html`<span class="muted">never again</span>` : html`<ul class="plain">${upcoming.map((t) => html`<li>${fire(t, now)}</li>`)}</ul>`;
    return html`<tr data-schedule="${s.id}"><td>${s.id}</td><td>${s.task}</td><td class="preview">${preview(s.args, 60)}</td>
<td><span class="when">${specInWords(s.spec)}</span><br><code class="muted">${specAsWritten(s.spec)}</code></td>
<td class="next">${next}</td><td class="last">${s.last === undefined ? html`<span class="muted">not yet</span>` : fire(s.last, now)}</td>
<td>${bounds(s)}<span class="muted">defined ${time(s.definedAt)}</span></td>
<td>${action(view, 'unschedule', 'Remove', { id: s.id }, `Remove schedule ${s.id}? Fires already queued still run.`, true)}</td></tr>`;
  });
  return html`<table id="schedules"><thead><tr><th>id</th><th>task</th><th>args</th><th>when</th><th>next fires</th><th>last fire</th><th>window</th><th></th></tr></thead>
<tbody>${body}</tbody></table>
<p class="muted">Times in UTC. A schedule fires while a worker of the app runs; missed fires are caught up as the window column says.</p>`;
}
