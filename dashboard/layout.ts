/** The frame every page shares: head, navigation, flash line and the action forms. */
import { html, type Html, type Part } from './html.js';

export interface View {
  /** The public path prefix the links start with ('' at the root). */
  readonly base: string;
  /** The CSRF token for this caller. */
  readonly token: string;
  /** Actions are shown (authenticated and not read-only). */
  readonly canAct: boolean;
  /** Why actions are hidden, when they are. */
  readonly why: string | undefined;
  readonly schedules: boolean;
  readonly appName: string;
}

export const FLASH: Readonly<Record<string, string>> = {
  retried: 'Retried: %n task(s) queued again.',
  cancelled: 'Cancel sent: %s.',
  promoted: 'Promoted: it runs now.',
  'not-promoted': 'Not promoted: the task was not waiting for its time.',
  removed: 'Removed.',
  'not-removed': 'Not removed: the task is running (cancel it first) or unknown.',
  paused: 'Paused.',
  resumed: 'Resumed.',
  cleaned: 'Cleaned: %n record(s) deleted.',
  unscheduled: 'Schedule removed.',
  'not-unscheduled': 'No such schedule: it was removed already.',
};

export function page(view: View, title: string, body: Part, extra: { task?: { id: string; status: string; attempts: number }; flash?: string | undefined } = {}): Html {
  const b = view.base;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${view.appName} · qtasks</title>
<link rel="stylesheet" href="${b}/assets/app.css"><link rel="icon" href="data:,">
<script src="${b}/assets/app.js" defer></script></head>
<body data-base="${b}"${extra.task !== undefined ? html` data-task="${extra.task.id}" data-status="${extra.task.status}" data-attempts="${extra.task.attempts}"` : ''}>
<header><a class="brand" href="${b}/">qtasks · ${view.appName}</a>
<nav><a href="${b}/">Overview</a><a href="${b}/tasks?status=process">Tasks</a><a href="${b}/dead">Dead letters</a><a href="${b}/workers">Workers</a>${view.schedules ? html`<a href="${b}/schedules">Schedules</a>` : ''}</nav>
<span id="live" class="muted" title="live updates">○</span></header>
<main>${view.why !== undefined ? html`<p class="note">${view.why}</p>` : ''}${extra.flash !== undefined ? html`<p class="flash" role="status">${extra.flash}</p>` : ''}
<h1>${title}</h1>
${body}</main></body></html>`;
}

/** A one-button POST form with the CSRF token, confirmed in the browser before it is sent. */
export function action(view: View, name: string, label: string, fields: Readonly<Record<string, string>>, confirm: string, danger = false): Html {
  if (!view.canAct) return html``;
  const hidden = Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return html`<form class="inline" method="post" action="${view.base}/actions/${name}" data-confirm="${confirm}"><input type="hidden" name="_csrf" value="${view.token}">${hidden}<button type="submit" class="${danger ? 'danger' : ''}" data-action="${name}">${label}</button></form>`;
}
