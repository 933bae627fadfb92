/** The pages, each a function from what the control plane answered to HTML. */
import type { QueueCounts, WorkerInfo } from '../core/contracts.js';
import type { ListResult } from '../core/control/plane.js';
import type { TaskRecord } from '../core/record.js';
import { html, json, preview, time, type Html } from './html.js';
import { action, type View } from './layout.js';
import type { Minute } from './live.js';

export const STATUSES = ['new', 'process', 'retry', 'success', 'error', 'cancel', 'dead'] as const;
export type Status = (typeof STATUSES)[number];

const COLUMNS: readonly { key: keyof QueueCounts; label: string; status: Status }[] = [
  { key: 'waiting', label: 'waiting', status: 'new' },
  { key: 'delayed', label: 'delayed', status: 'new' },
  { key: 'running', label: 'running', status: 'process' },
  { key: 'retrying', label: 'retrying', status: 'retry' },
  { key: 'dead', label: 'dead', status: 'dead' },
  { key: 'error', label: 'error', status: 'error' },
  { key: 'success', label: 'success', status: 'success' },
  { key: 'cancel', label: 'cancelled', status: 'cancel' },
];

const BARS = '▁▂▃▄▅▆▇█';

export function spark(values: readonly number[]): string {
  const max = Math.max(1, ...values);
  return values.map((v) => (v === 0 ? '·' : BARS[Math.min(7, Math.floor((v / max) * 7.999))])).join('');
}

export function overview(view: View, counts: readonly QueueCounts[] | string, minutes: readonly Minute[], live: boolean): Html {
  const b = view.base;
  const table =
    typeof counts === 'string'
      ? html`<p class="error">${counts}</p>`
      : html`<table id="queues"><thead><tr><th>queue</th>${COLUMNS.map((c) => html`<th>${c.label}</th>`)}<th>state</th><th></th></tr></thead><tbody>
${counts.map(
  (q) => html`<tr data-queue="${q.queue}"><td>${q.queue}</td>${COLUMNS.map(
    (c) => html`<td class="num"><a data-q="${q.queue}" data-k="${c.key}" href="${b}/tasks?status=${c.status}&amp;queue=${encodeURIComponent(q.queue)}">${String(q[c.key])}</a></td>`,
  )}<td data-q="${q.queue}" data-k="paused" class="${q.paused ? 'paused' : ''}">${q.paused ? 'paused' : 'active'}</td>
<td>${q.paused ? action(view, 'resume', 'Resume', { queue: q.queue }, `Resume queue ${q.queue}?`) : action(view, 'pause', 'Pause', { queue: q.queue }, `Pause queue ${q.queue}? Workers stop taking its tasks.`)}</td></tr>`,
)}</tbody></table>`;
  const done = minutes.map((m) => m.completed);
  const failed = minutes.map((m) => m.failed);
  const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0);
  const clean = view.canAct
    ? html`<h2>Clean finished records</h2><form method="post" action="${b}/actions/clean" data-confirm="Delete these records for good?" class="row">
<input type="hidden" name="_csrf" value="${view.token}"><label>status <select name="status">${['success', 'error', 'cancel', 'dead'].map((s) => html`<option>${s}</option>`)}</select></label>
<label>older than <input name="olderThanMinutes" type="number" min="0" value="60" required> minutes</label><button type="submit" class="danger" data-action="clean">Clean</button></form>`
    : '';
  return html`${table}
<h2>Last ${minutes.length} minutes ${live ? '' : html`<span class="muted">(this broker has no event stream)</span>`}</h2>
<p class="spark">completed <span id="spark-done" class="bars">${spark(done)}</span> <b id="sum-done">${sum(done)}</b>
· failed <span id="spark-failed" class="bars bad">${spark(failed)}</span> <b id="sum-failed">${sum(failed)}</b></p>
<p class="muted">Counted from the events this dashboard has seen since it started, one bar a minute.</p>
${clean}`;
}

function rowActions(view: View, r: TaskRecord): Html {
  const id = { id: r.id };
  return html`${r.status === 'error' || r.status === 'dead' ? action(view, 'retry', 'Retry', id, `Retry task ${r.id}?`) : ''}${
    r.status === 'new' || r.status === 'process' || r.status === 'retry' ? action(view, 'cancel', 'Cancel', id, `Cancel task ${r.id}?`, true) : ''
  }${(r.status === 'new' && r.runAt !== undefined) || r.status === 'retry' ? action(view, 'promote', 'Run now', id, `Run task ${r.id} now?`) : ''}${
    r.status !== 'process' ? action(view, 'remove', 'Remove', id, `Delete task ${r.id} and its record?`, true) : ''
  }`;
}

export interface ListQuery {
  readonly status: Status;
  readonly queue?: string | undefined;
  readonly name?: string | undefined;
  readonly cursor?: string | undefined;
  readonly limit?: number | undefined;
}

function listLink(view: View, q: ListQuery, cursor?: string): string {
  const p = new URLSearchParams({ status: q.status });
  if (q.queue !== undefined) p.set('queue', q.queue);
  if (q.name !== undefined) p.set('name', q.name);
  if (q.limit !== undefined) p.set('limit', String(q.limit));
  if (cursor !== undefined) p.set('cursor', cursor);
  return `${view.base}/tasks?${p.toString()}`;
}

export function taskList(view: View, q: ListQuery, page: ListResult | string, dead = false): Html {
  const tabs = dead
    ? ''
    : html`<p class="tabs">${STATUSES.map((s) => html`<a class="${s === q.status ? 'on' : ''}" href="${listLink(view, { ...q, status: s, cursor: undefined })}">${s}</a>`)}</p>`;
  const search = html`<form method="get" action="${view.base}/tasks" class="row search">
<label>id <input name="id" placeholder="task id"></label><button type="submit">Open</button></form>
<form method="get" action="${view.base}${dead ? '/dead' : '/tasks'}" class="row search">${dead ? '' : html`<input type="hidden" name="status" value="${q.status}">`}
<label>name <input name="name" value="${q.name ?? ''}"></label><label>queue <input name="queue" value="${q.queue ?? ''}"></label><button type="submit">Filter</button></form>`;
  if (typeof page === 'string') return html`${tabs}${search}<p class="error">${page}</p>`;
  const retryAll = dead
    ? action(view, 'retry-all', `Retry all dead${q.queue !== undefined ? ` in ${q.queue}` : ''}`, { status: 'dead', ...(q.queue !== undefined ? { queue: q.queue } : {}), ...(q.name !== undefined ? { name: q.name } : {}) }, 'Queue every matching dead task again?')
    : '';
  const rows = page.records.map(
    (r) => html`<tr data-id="${r.id}"><td><a href="${view.base}/tasks/${encodeURIComponent(r.id)}">${r.id}</a></td><td>${r.name}</td><td>${r.queue}</td>
<td><span class="status s-${r.status}">${r.status}</span></td><td class="num">${r.attempts}</td><td>${time(r.updatedAt)}</td>
<td class="preview">${preview(r.error?.message ?? r.reason ?? r.args)}</td><td>${rowActions(view, r)}</td></tr>`,
  );
  const next = page.cursor !== undefined ? html`<a class="next" href="${listLink(view, q, page.cursor)}">Next page →</a>` : '';
  const first = q.cursor !== undefined ? html`<a href="${listLink(view, { ...q, cursor: undefined })}">← First page</a> ` : '';
  return html`${tabs}${search}${retryAll}
${page.records.length === 0 ? html`<p class="muted">No tasks.</p>` : html`<table id="tasks"><thead><tr><th>id</th><th>name</th><th>queue</th><th>status</th><th>attempts</th><th>updated</th><th>args / error</th><th></th></tr></thead><tbody>${rows}</tbody></table>`}
<p class="pager">${first}${next}</p>`;
}

export function taskDetail(view: View, r: TaskRecord): Html {
  const steps: [string, number | undefined][] = [
    ['created', r.createdAt],
    ['due', r.runAt],
    ['started', r.startedAt],
    ['finished', r.finishedAt],
    ['last update', r.updatedAt],
  ];
  const timeline = steps.filter(([, at]) => at !== undefined).sort((a, b) => a[1]! - b[1]!);
  return html`<p>Status <span id="status" class="status s-${r.status}">${r.status}</span> · ${r.name} on queue ${r.queue} · attempt <b id="attempts">${r.attempts}</b> · priority ${r.priority}</p>
<p class="actions">${rowActions(view, r)}</p>
<h2>Arguments</h2>${json(r.args)}
${r.status === 'success' ? html`<h2>Result</h2>${json(r.returning)}` : ''}
${r.error !== undefined ? html`<h2>Error</h2><p class="error" id="error">${r.error.name !== undefined ? `${r.error.name}: ` : ''}${r.error.message}</p>${r.error.stack !== undefined ? html`<pre class="stack">${r.error.stack}</pre>` : ''}` : ''}
${r.reason !== undefined ? html`<h2>Reason</h2><p id="reason">${r.reason}</p>` : ''}
<h2>Progress</h2><pre id="progress" class="json">${r.progress === undefined ? '-' : preview(r.progress, 2000)}</pre>
<h2>Timeline</h2><ul id="timeline">${timeline.map(([what, at]) => html`<li>${time(at)} ${what}</li>`)}</ul>
<h2>Logs</h2>${r.logs !== undefined && r.logs.length > 0 ? html`<pre class="logs">${r.logs.join('\n')}</pre>` : html`<p class="muted">No log lines.</p>`}
${r.meta !== undefined ? html`<h2>Metadata</h2>${json(r.meta)}` : ''}`;
}

export function workers(list: readonly WorkerInfo[] | string): Html {
  if (typeof list === 'string') return html`<p class="error">${list}</p>`;
  if (list.length === 0) return html`<p class="warn">No live worker: nothing takes tasks from the queues.</p>`;
  return html`<table id="workers"><thead><tr><th>host:pid</th><th>id</th><th>queues</th><th>running</th><th>tasks</th><th>started</th><th>last heartbeat</th></tr></thead><tbody>
${list.map((w) => html`<tr><td>${w.host}:${w.pid}</td><td>${w.id}</td><td>${w.queues.join(', ')}</td><td class="num">${w.running}/${w.concurrency}</td><td>${w.tasks.join(', ')}</td><td>${time(w.startedAt)}</td><td>${time(w.lastHeartbeat)}</td></tr>`)}</tbody></table>`;
}

export function message(text: string): Html {
  return html`<p class="error">${text}</p>`;
}
