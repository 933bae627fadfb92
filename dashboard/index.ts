/**
 * `qtasks/dashboard`: a web dashboard over the control plane, as one plain Node request handler
 * that mounts under node:http, Express or Fastify. See docs/dashboard.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { QueueTasks } from '../core/app.js';
import { ErrorCodes, QTasksError } from '../core/errors.js';
import { CSS, JS } from './assets.js';
import { type Html } from './html.js';
import { FLASH, page, type View } from './layout.js';
import { Live } from './live.js';
import { message, overview, STATUSES, taskDetail, taskList, workers, type ListQuery, type Status } from './pages.js';
import { upcoming } from './schedule-words.js';
import { schedulesPage, type ScheduleRow } from './schedules-page.js';
import { access, Csrf, sameOrigin, type DashboardAuth } from './security.js';

export type { BasicCredentials, DashboardAuth } from './security.js';

export interface DashboardOptions {
  /** The path the dashboard is reached under, e.g. '/admin/queues' (default: the root). */
  readonly basePath?: string;
  /**
   * Who may act (and, when given, who may look at all): a function of the request, or basic
   * credentials. `false` opts out: actions are then allowed to requests over loopback only.
   * Without it the dashboard is read-only.
   */
  readonly auth?: DashboardAuth;
  /** Hides every action and refuses every state change. */
  readonly readOnly?: boolean;
}

/** A plain Node handler; `next`, when given (Express), receives requests outside `basePath`. */
export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Ends the live streams and the event subscription (the app itself is left alone). */
  close(): void;
}

interface TaskMark {
  readonly id: string;
  readonly status: string;
  readonly attempts: number;
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const MAX_BODY = 64 * 1024;
/** Bulk actions go in calls of this many tasks (the control plane's largest limit), 100 calls at most. */
const BATCH = 1_000;
const MAX_BATCHES = 100;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function normaliseBase(basePath: string | undefined): string {
  if (basePath === undefined || basePath === '' || basePath === '/') return '';
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(basePath)) throw new QTasksError(ErrorCodes.INVALID_OPTION, `dashboard: basePath must be a path such as "/admin/queues", got ${JSON.stringify(basePath)}`);
  return basePath.replace(/\/+$/, '');
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  // A framework may have parsed the body already (Express' urlencoded()).
  const parsed = (req as IncomingMessage & { body?: unknown }).body;
  if (parsed !== null && typeof parsed === 'object' && !Buffer.isBuffer(parsed)) {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') form.set(k, v);
    return form;
  }
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'Actions are form posts (application/x-www-form-urlencoded).');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'Request body too large.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function statusOf(value: string | null): Status {
  return (STATUSES as readonly string[]).includes(value ?? '') ? (value as Status) : 'process';
}

/** A page size from the URL: 1 to 200, or the default. */
function limitOf(value: string | null): number | undefined {
  const n = Number(value);
  return value !== null && Number.isInteger(n) && n >= 1 && n <= 200 ? n : undefined;
}

function opt(value: string | null): string | undefined {
  return value === null || value.trim() === '' ? undefined : value.trim();
}

/** The dashboard of `app` as a request handler. The app must be started (a worker is optional). */
export function dashboard(app: QueueTasks, options: DashboardOptions = {}): DashboardHandler {
  const base = normaliseBase(options.basePath);
  const readOnly = options.readOnly === true;
  const auth = options.auth;
  if (auth !== undefined && auth !== false && typeof auth !== 'function' && (typeof auth?.username !== 'string' || typeof auth?.password !== 'string' || auth.password === '')) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, 'dashboard: auth must be a function (req) => boolean, { username, password } with a non-empty password, or false');
  }
  const csrf = new Csrf();
  const live = new Live(app);
  // Count throughput from now on if the app already runs (before start, listeners would make a
  // broker without events fail the app's start).
  if (app.state === 'started') live.start();

  async function handle(req: IncomingMessage, res: ServerResponse, next: ((err?: unknown) => void) | undefined): Promise<void> {
    const full = new URL((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/', 'http://dashboard.invalid');
    const path = full.pathname;
    if (path !== base && !path.startsWith(`${base}/`)) {
      if (next !== undefined) return next();
      return send(res, 404, 'text/plain; charset=utf-8', 'Not found');
    }
    const route = path.slice(base.length) || '/';
    const q = full.searchParams;

    const who = await access(req, auth);
    if (who === 'denied') {
      const challenge: Record<string, string> = auth !== undefined && auth !== false && typeof auth !== 'function' ? { 'www-authenticate': 'Basic realm="qtasks dashboard", charset="UTF-8"' } : {};
      return send(res, 401, 'text/plain; charset=utf-8', 'Authentication required', challenge);
    }
    const canAct = !readOnly && who === 'act';
    const why = readOnly
      ? 'Read-only dashboard: actions are disabled.'
      : canAct
        ? undefined
        : auth === false
          ? 'Actions are allowed over loopback only (auth: false); configure auth to act from elsewhere.'
          : 'Actions are disabled: this dashboard has no auth configured.';
    const view: View = { base, token: csrf.token(req), canAct, why, schedules: true, appName: app.name };
    const flashCode = q.get('ok');
    const flash = flashCode !== null && Object.hasOwn(FLASH, flashCode) ? FLASH[flashCode]!.replace('%n', String(Number(q.get('n') ?? 0))).replace('%s', opt(q.get('s'))?.replace(/[^a-z]/g, '') ?? '') : undefined;
    const show = (title: string, body: Html | string, task?: TaskMark): void =>
      send(res, 200, 'text/html; charset=utf-8', page(view, title, typeof body === 'string' ? message(body) : body, { ...(task !== undefined ? { task } : {}), flash }).text);

    if (req.method === 'POST') {
      if (!route.startsWith('/actions/')) throw new HttpError(405, 'Method not allowed.');
      if (readOnly) throw new HttpError(403, 'This dashboard is read-only.');
      if (!canAct) throw new HttpError(403, why ?? 'Actions are not allowed.');
      if (!sameOrigin(req)) throw new HttpError(403, 'Cross-site request refused.');
      const form = await readForm(req);
      if (!csrf.valid(req, form.get('_csrf'))) throw new HttpError(403, 'Missing or invalid CSRF token: reload the page and try again.');
      const to = await act(route.slice('/actions/'.length), form);
      res.writeHead(303, { location: `${base}${to}`, 'cache-control': 'no-store', 'content-length': '0' });
      return void res.end();
    }
    if ((req.method !== 'GET' && req.method !== 'HEAD') || route.startsWith('/actions/')) throw new HttpError(405, 'Method not allowed: actions are POSTs.');

    if (route === '/assets/app.js') return send(res, 200, 'text/javascript; charset=utf-8', JS, { 'cache-control': 'no-cache' });
    if (route === '/assets/app.css') return send(res, 200, 'text/css; charset=utf-8', CSS, { 'cache-control': 'no-cache' });
    if (route === '/events') {
      res.setHeader('content-security-policy', CSP);
      return live.attach(res);
    }
    if (route === '/') {
      const started = live.start();
      const counts = await allCounts().catch(errorText);
      return show('Overview', overview(view, counts, live.minutes(), started));
    }
    if (route === '/tasks') {
      const id = opt(q.get('id'));
      if (id !== undefined) {
        res.writeHead(303, { location: `${base}/tasks/${encodeURIComponent(id)}`, 'content-length': '0' });
        return void res.end();
      }
      const query = { status: statusOf(q.get('status')), queue: opt(q.get('queue')), name: opt(q.get('name')), cursor: opt(q.get('cursor')), limit: limitOf(q.get('limit')) };
      return show(`Tasks: ${query.status}`, taskList(view, query, await list(query)));
    }
    if (route === '/dead') {
      const query = { status: 'dead' as const, queue: opt(q.get('queue')), name: opt(q.get('name')), cursor: opt(q.get('cursor')), limit: limitOf(q.get('limit')) };
      return show('Dead letters', taskList(view, query, await list(query), true));
    }
    const state = /^\/tasks\/([^/]+)\/state$/.exec(route);
    if (state !== null) {
      // What the task page compares with what it shows once its live stream is connected.
      const record = await app.get(decodeURIComponent(state[1]!));
      return send(res, record === undefined ? 404 : 200, 'application/json; charset=utf-8', JSON.stringify(record === undefined ? {} : { status: record.status, attempts: record.attempts }));
    }
    const detail = /^\/tasks\/([^/]+)$/.exec(route);
    if (detail !== null) {
      const id = decodeURIComponent(detail[1]!);
      live.start();
      const record = await app.get(id);
      if (record === undefined) return send(res, 404, 'text/html; charset=utf-8', page(view, 'Task not found', message(`No task ${id} (unknown, or its record expired).`)).text);
      return show(`Task ${record.id}`, taskDetail(view, record), { id: record.id, status: record.status, attempts: record.attempts });
    }
    if (route === '/workers') return show('Workers', workers(await app.workers().catch(errorText)));
    if (route === '/schedules' && view.schedules) return show('Schedules', schedulesPage(view, await scheduleRows().catch(errorText)));
    send(res, 404, 'text/html; charset=utf-8', page(view, 'Not found', message('No such page.')).text);
  }

  /** Every queue the broker has seen, plus those the app names (an empty queue is still listed). */
  async function allCounts(): Promise<Awaited<ReturnType<QueueTasks['counts']>>> {
    const seen = await app.counts();
    const named = new Set([app.config.defaultQueue, ...app.config.queues, ...[...app.tasks.values()].map((t) => t.options.queue ?? app.config.defaultQueue)]);
    const missing = [...named].filter((q) => !seen.some((c) => c.queue === q));
    const more = (await Promise.all(missing.map((q) => app.counts(q)))).flat();
    return [...seen, ...more].sort((a, b) => a.queue.localeCompare(b.queue));
  }

  async function list(query: ListQuery): Promise<Awaited<ReturnType<QueueTasks['list']>> | string> {
    const { status, queue, name, cursor } = query;
    return app.list({ status, limit: query.limit ?? 50, ...(queue !== undefined ? { queue } : {}), ...(name !== undefined ? { name } : {}), ...(cursor !== undefined ? { cursor } : {}) }).catch(errorText);
  }

  /** The app's schedules by id, each with its next few fire times. */
  async function scheduleRows(): Promise<ScheduleRow[]> {
    const list = [...(await app.schedules())].sort((a, b) => a.id.localeCompare(b.id));
    return Promise.all(list.map(async (info) => ({ info, upcoming: await upcoming(info) })));
  }

  /**
   * A bulk call of the control plane (at most BATCH tasks a call) repeated until a call does
   * less than a full batch, `total` tasks are done, or MAX_BATCHES calls were made.
   */
  async function inBatches(call: (limit: number) => Promise<number>, total = Infinity): Promise<number> {
    let done = 0;
    for (let i = 0; i < MAX_BATCHES && done < total; i++) {
      const want = Math.min(BATCH, total - done);
      const n = await call(want);
      done += n;
      if (n < want) break;
    }
    return done;
  }

  /** Runs one action; returns where to send the browser next (ids are the only task data in it). */
  async function act(name: string, form: URLSearchParams): Promise<string> {
    const need = (field: string): string => {
      const v = opt(form.get(field));
      if (v === undefined) throw new HttpError(400, `Missing field ${field}.`);
      return v;
    };
    const task = (id: string, ok: string, extra = ''): string => `/tasks/${encodeURIComponent(id)}?ok=${ok}${extra}`;
    switch (name) {
      case 'retry': {
        const id = need('id');
        const n = await app.retry(id);
        return task(id, 'retried', `&n=${n}`);
      }
      case 'retry-all': {
        const given = need('status');
        if (given !== 'dead' && given !== 'error') throw new HttpError(400, 'retry-all: status must be dead or error.');
        const status: 'dead' | 'error' = given;
        const queue = opt(form.get('queue'));
        const name = opt(form.get('name'));
        const filter = { status, ...(queue !== undefined ? { queue } : {}), ...(name !== undefined ? { name } : {}) };
        // As many as were there when asked: a task that dies again at once is not retried twice.
        const there = await app.counts(queue).then((cs) => cs.reduce((sum, c) => sum + c[status], 0)).catch(() => undefined);
        const n = await inBatches((limit) => app.retry({ ...filter, limit }), there);
        return `${status === 'dead' ? '/dead' : '/tasks?status=error'}${status === 'dead' ? '?' : '&'}ok=retried&n=${n}`;
      }
      case 'cancel': {
        const id = need('id');
        const found = await app.cancel(id, 'cancelled from the dashboard');
        return task(id, 'cancelled', `&s=${found}`);
      }
      case 'promote': {
        const id = need('id');
        return task(id, (await app.promote(id)) ? 'promoted' : 'not-promoted');
      }
      case 'remove': {
        const id = need('id');
        return (await app.remove(id)) ? '/?ok=removed' : task(id, 'not-removed');
      }
      case 'pause':
      case 'resume': {
        const queue = need('queue');
        await (name === 'pause' ? app.pause(queue) : app.resume(queue));
        return `/?ok=${name === 'pause' ? 'paused' : 'resumed'}`;
      }
      case 'clean': {
        const status = need('status');
        if (!['success', 'error', 'cancel', 'dead'].includes(status)) throw new HttpError(400, 'clean: status must be success, error, cancel or dead.');
        const minutes = Number(need('olderThanMinutes'));
        if (!Number.isFinite(minutes) || minutes < 0) throw new HttpError(400, 'clean: olderThanMinutes must be a number >= 0.');
        const olderThanMs = Math.round(minutes * 60_000);
        const n = await inBatches((limit) => app.clean({ status: status as 'success', olderThanMs, limit }));
        return `/?ok=cleaned&n=${n}`;
      }
      case 'unschedule': {
        const id = need('id');
        return `/schedules?ok=${(await app.unschedule(id)) ? 'unscheduled' : 'not-unscheduled'}`;
      }
      default:
        throw new HttpError(404, `No action ${name}.`);
    }
  }

  const handler = ((req, res, next) => {
    handle(req, res, next).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof QTasksError ? 409 : err instanceof URIError ? 400 : 500;
      if (status === 500) app.logger('dashboard').error({ err }, 'dashboard request failed');
      if (res.headersSent) return void res.end();
      const text = status === 500 ? 'The dashboard failed to answer; see the server log.' : errorText(err);
      send(res, status, 'text/html; charset=utf-8', page({ base, token: '', canAct: false, why: undefined, schedules: false, appName: app.name }, `Error ${status}`, message(text)).text);
    });
  }) as DashboardHandler;
  handler.close = () => live.close();
  return handler;
}
