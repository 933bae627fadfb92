/**
 * The dashboard over plain HTTP (memory broker): who may look and act, CSRF and origin checks,
 * read-only, escaping of task data, the security headers, and mounting under node:http, Express
 * and Fastify.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { dashboard, type DashboardHandler, type DashboardOptions } from '../../dashboard/index.js';
import { access } from '../../dashboard/security.js';
import { memory } from '../../plugins/memory/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(): Promise<QueueTasks> {
  const app = new QueueTasks({ name: uniqueName('dash'), plugins: [memory()], config: { logLevel: 'silent' }, globals: false });
  app.task('fail', (what: unknown) => {
    throw new Error(`broken ${JSON.stringify(what)}`);
  });
  app.task('later', () => 'done');
  await app.start();
  cleanups.push(() => app.stop());
  return app;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function serve(app: QueueTasks, options: DashboardOptions): Promise<string> {
  const handler = dashboard(app, options);
  cleanups.push(() => handler.close());
  const server = createServer(handler);
  return listen(server);
}

const basic = (user: string, pass: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

/** The CSRF token the page hands this caller. */
async function token(url: string, headers: Record<string, string> = {}): Promise<string> {
  const page = await (await fetch(`${url}/`, { headers })).text();
  const match = /name="_csrf" value="([^"]+)"/.exec(page);
  if (match === null) throw new Error('no CSRF token on the page');
  return match[1]!;
}

function post(url: string, path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form).toString() });
}

async function deadTask(app: QueueTasks, args: unknown[]): Promise<string> {
  const record = await app.addTask('fail', args);
  await waitUntil(async () => (await app.get(record.id))?.status === 'error', 'the task to fail');
  return record.id;
}

describe('dashboard over HTTP', () => {
  it('types: a Node handler with close(); auth is a function, credentials or false', () => {
    expectTypeOf(dashboard).returns.toEqualTypeOf<DashboardHandler>();
    expectTypeOf<DashboardHandler>().toBeCallableWith({} as IncomingMessage, {} as import('node:http').ServerResponse);
    expectTypeOf<DashboardOptions['auth']>().toEqualTypeOf<((req: IncomingMessage) => boolean | Promise<boolean>) | { readonly username: string; readonly password: string } | false | undefined>();
    // @ts-expect-error auth is not a string
    const wrong = (): unknown => dashboard({} as QueueTasks, { auth: 'secret' });
    expect(typeof wrong).toBe('function');
  });

  it('basic credentials: pages need them (401 with a challenge), wrong ones are refused', async () => {
    const url = await serve(await started(), { auth: { username: 'ops', password: 's3cret' } });
    const anonymous = await fetch(`${url}/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect((await fetch(`${url}/`, { headers: basic('ops', 'wrong') })).status).toBe(401);
    expect((await fetch(`${url}/`, { headers: basic('other', 's3cret') })).status).toBe(401);
    const ok = await fetch(`${url}/`, { headers: basic('ops', 's3cret') });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('data-action="pause"');
  });

  it('an auth function decides per request', async () => {
    const url = await serve(await started(), { auth: (req) => req.headers['x-operator'] === 'yes' });
    expect((await fetch(`${url}/workers`)).status).toBe(401);
    expect((await fetch(`${url}/workers`, { headers: { 'x-operator': 'yes' } })).status).toBe(200);
  });

  it('without auth the dashboard shows but refuses actions; auth: false allows them on loopback only', async () => {
    const app = await started();
    const url = await serve(app, {});
    const page = await (await fetch(`${url}/`)).text();
    expect(page).toContain('no auth configured');
    expect(page).not.toContain('data-action=');
    expect((await post(url, '/actions/pause', { queue: 'default', _csrf: 'x' })).status).toBe(403);
    expect((await app.counts('default'))[0]!.paused).toBe(false);

    const loose = await serve(app, { auth: false });
    const res = await post(loose, '/actions/pause', { queue: 'default', _csrf: await token(loose) });
    expect(res.status).toBe(303);
    expect((await app.counts('default'))[0]!.paused).toBe(true);

    // The same opt-out from another machine: reading only.
    const remote = { headers: {}, socket: { localAddress: '10.1.2.3', remoteAddress: '10.1.2.4' } } as unknown as IncomingMessage;
    const local = { headers: {}, socket: { localAddress: '::ffff:127.0.0.1', remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
    expect(await access(remote, false)).toBe('read');
    expect(await access(local, false)).toBe('act');
    expect(await access(local, undefined)).toBe('read');
  });

  it('a POST without the CSRF token, with a wrong one, or from another origin is refused', async () => {
    const app = await started();
    const auth = basic('ops', 'pw');
    const url = await serve(app, { auth: { username: 'ops', password: 'pw' } });
    const good = await token(url, auth);
    expect((await post(url, '/actions/pause', { queue: 'default' }, auth)).status).toBe(403);
    expect((await post(url, '/actions/pause', { queue: 'default', _csrf: good.slice(1) + 'x' }, auth)).status).toBe(403);
    expect((await post(url, '/actions/pause', { queue: 'default', _csrf: good }, { ...auth, origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(url, '/actions/pause', { queue: 'default', _csrf: good }, { ...auth, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await app.counts('default'))[0]!.paused).toBe(false);
    // A GET never changes anything.
    expect((await fetch(`${url}/actions/pause?queue=default&_csrf=${good}`, { headers: auth })).status).toBe(405);
    const ok = await post(url, '/actions/pause', { queue: 'default', _csrf: good }, { ...auth, origin: url });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/?ok=paused');
    expect((await app.counts('default'))[0]!.paused).toBe(true);
  });

  it('readOnly hides every action and refuses them even with credentials and a token', async () => {
    const app = await started();
    const id = await deadTask(app, ['x']);
    const auth = basic('ops', 'pw');
    const full = await serve(app, { auth: { username: 'ops', password: 'pw' } });
    const good = await token(full, auth);
    const url = await serve(app, { auth: { username: 'ops', password: 'pw' }, readOnly: true });
    const detail = await (await fetch(`${url}/tasks/${id}`, { headers: auth })).text();
    expect(detail).toContain('Read-only');
    expect(detail).not.toContain('<form class="inline" method="post"');
    const refused = await post(url, '/actions/retry', { id, _csrf: await token(url, auth).catch(() => good) }, auth);
    expect(refused.status).toBe(403);
    expect((await app.get(id))?.status).toBe('error');
  });

  it('task data is escaped everywhere, and pages carry a Content-Security-Policy', async () => {
    const app = await started();
    const payload = '<script>window.pwned=1</script><img src=x onerror=alert(1)>';
    const id = await deadTask(app, [payload]);
    const url = await serve(app, { auth: false });
    for (const path of [`/tasks/${id}`, '/tasks?status=error']) {
      const res = await fetch(`${url}${path}`);
      const text = await res.text();
      expect(text).not.toContain('<script>window.pwned');
      expect(text).not.toContain('<img src=x');
      expect(text).toContain('&#60;script&#62;window.pwned=1&#60;/script&#62;');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
    // Actions never put task data in the URL they lead to: ids only.
    const res = await post(url, '/actions/retry', { id, _csrf: await token(url) });
    expect(res.headers.get('location')).toBe(`/tasks/${id}?ok=retried&n=1`);
  });

  it('mounts under a basePath with node:http, Express and Fastify', async () => {
    const app = await started();
    const handler = dashboard(app, { basePath: '/admin/queues', auth: false });
    cleanups.push(() => handler.close());

    const plain = await listen(createServer((req, res) => handler(req, res, () => res.writeHead(418).end())));
    expect((await fetch(`${plain}/admin/queues/`)).status).toBe(200);
    expect((await fetch(`${plain}/elsewhere`)).status).toBe(418);

    const ex = express();
    ex.use('/admin/queues', handler);
    ex.get('/hello', (_req, res) => void res.send('hi'));
    const exUrl = await listen(createServer(ex));
    const exPage = await (await fetch(`${exUrl}/admin/queues/workers`)).text();
    expect(exPage).toContain('href="/admin/queues/assets/app.css"');
    expect(await (await fetch(`${exUrl}/hello`)).text()).toBe('hi');
    const exToken = /name="_csrf" value="([^"]+)"/.exec(await (await fetch(`${exUrl}/admin/queues/`)).text())![1]!;
    expect((await post(exUrl, '/admin/queues/actions/pause', { queue: 'default', _csrf: exToken })).status).toBe(303);
    await app.resume();

    const fastify = Fastify();
    // The dashboard reads its own form bodies: Fastify leaves the stream alone.
    fastify.addContentTypeParser('application/x-www-form-urlencoded', (_req, _payload, done) => done(null, undefined));
    const mount = (request: { raw: IncomingMessage }, reply: { hijack: () => void; raw: import('node:http').ServerResponse }): void => {
      reply.hijack();
      handler(request.raw, reply.raw);
    };
    fastify.all('/admin/queues', mount);
    fastify.all('/admin/queues/*', mount);
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => fastify.close());
    const fUrl = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
    expect(await (await fetch(`${fUrl}/admin/queues/assets/app.js`)).text()).toContain('EventSource');
    const fToken = /name="_csrf" value="([^"]+)"/.exec(await (await fetch(`${fUrl}/admin/queues/`)).text())![1]!;
    expect((await post(fUrl, '/admin/queues/actions/pause', { queue: 'default', _csrf: fToken })).status).toBe(303);
    expect((await app.counts('default'))[0]!.paused).toBe(true);
  });

  it('actions: retry all, run now, remove and clean do what the control plane says', async () => {
    const app = await started();
    const url = await serve(app, { auth: false });
    const csrf = await token(url);
    const failedIds = [await deadTask(app, ['a']), await deadTask(app, ['b'])];
    const before = await Promise.all(failedIds.map(async (id) => (await app.get(id))!.updatedAt));
    const all = await post(url, '/actions/retry-all', { status: 'error', _csrf: csrf });
    expect(all.headers.get('location')).toBe('/tasks?status=error&ok=retried&n=2');
    // The task fails again (nothing fixed it): both went through a second attempt.
    for (const [i, id] of failedIds.entries()) {
      await waitUntil(async () => {
        const r = await app.get(id);
        return r?.status === 'error' && r.updatedAt > before[i]!;
      }, 'the retried task to fail again');
    }

    const delayed = await app.addTask('later', [], { delay: 3_600_000 });
    const promoted = await post(url, '/actions/promote', { id: delayed.id, _csrf: csrf });
    expect(promoted.headers.get('location')).toBe(`/tasks/${delayed.id}?ok=promoted`);
    expect((await app.wait(delayed.id, 5_000)).returning).toBe('done');

    const waiting = await app.addTask('later', [], { delay: 3_600_000 });
    expect((await post(url, '/actions/remove', { id: waiting.id, _csrf: csrf })).headers.get('location')).toBe('/?ok=removed');
    expect(await app.get(waiting.id)).toBeUndefined();

    const cleaned = await post(url, '/actions/clean', { status: 'success', olderThanMinutes: '0', _csrf: csrf });
    expect(cleaned.headers.get('location')).toBe('/?ok=cleaned&n=1');
    expect(await app.get(delayed.id)).toBeUndefined();
    const flash = await (await fetch(`${url}${cleaned.headers.get('location')!}`)).text();
    expect(flash).toContain('Cleaned: 1 record(s) deleted.');
  });

  it('retry all and clean go past the control plane\'s 1000 a call: every matching task, once', async () => {
    const app = await started();
    const url = await serve(app, { auth: false });
    const csrf = await token(url);
    const many = 1_003;
    await Promise.all(Array.from({ length: many }, (_, i) => app.addTask('fail', [i])));
    await waitUntil(async () => (await app.counts('default'))[0]?.error === many, 'every task failed', 20_000);
    // Paused, the retried tasks wait: each is retried once, none twice.
    await app.pause('default');
    const all = await post(url, '/actions/retry-all', { status: 'error', _csrf: csrf });
    expect(all.headers.get('location')).toBe(`/tasks?status=error&ok=retried&n=${many}`);
    expect((await app.counts('default'))[0]).toMatchObject({ error: 0, waiting: many });
    await app.resume('default');
    await waitUntil(async () => (await app.counts('default'))[0]?.error === many, 'every task failed again', 20_000);
    const cleaned = await post(url, '/actions/clean', { status: 'error', olderThanMinutes: '0', _csrf: csrf });
    expect(cleaned.headers.get('location')).toBe(`/?ok=cleaned&n=${many}`);
    expect((await app.counts('default'))[0]?.error).toBe(0);
  });

  it('searches by id and by name, and pages with the list cursor', async () => {
    const app = await started();
    const url = await serve(app, { auth: false });
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await deadTask(app, [i]));
    const byId = await fetch(`${url}/tasks?id=${ids[0]}`, { redirect: 'manual' });
    expect(byId.status).toBe(303);
    expect(byId.headers.get('location')).toBe(`/tasks/${ids[0]}`);
    expect((await fetch(`${url}/tasks/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(`${url}/tasks/no-such-task`)).status).toBe(404);
    expect(await (await fetch(`${url}/tasks?status=error&name=later`)).text()).toContain('No tasks.');
    const named = await (await fetch(`${url}/tasks?status=error&name=fail`)).text();
    for (const id of ids) expect(named).toContain(`data-id="${id}"`);

    expect(named).not.toContain('Next page');
    // Two a page: the next-page link carries the list cursor, and the second page holds the rest.
    const page1 = await (await fetch(`${url}/tasks?status=error&limit=2`)).text();
    const next = /<a class="next" href="([^"]+)"/.exec(page1)![1]!.replaceAll('&#38;', '&');
    const page2 = await (await fetch(`${url}${next}`)).text();
    const shown = (html: string): string[] => [...html.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1]!);
    expect(shown(page1)).toHaveLength(2);
    expect(shown(page2)).toHaveLength(1);
    expect([...shown(page1), ...shown(page2)].sort()).toEqual([...ids].sort());
    expect(page2).toContain('First page');

  });

  it('the schedules page: what runs when in words, the next fires, the last one, and remove with confirmation', async () => {
    const app = await started();
    await app.schedule('nightly <b>', { cron: '0 3 * * *', tz: 'UTC' }, 'later', ['<script>x</script>'], { endAt: Date.UTC(2100, 0, 1) });
    await app.schedule('tick', { every: 1_000 }, 'later', [], { catchUp: 'none' });
    // This app's worker fires `tick`: its last fire is then stored.
    await waitUntil(async () => (await app.schedules()).find((s) => s.id === 'tick')?.last !== undefined, 'tick fired');
    const url = await serve(app, { auth: false });
    expect(await (await fetch(`${url}/`)).text()).toContain('href="/schedules"');

    const page = await (await fetch(`${url}/schedules`)).text();
    const row = (id: string): string => new RegExp(`<tr data-schedule="${id}">([\\s\\S]*?)</tr>`).exec(page)?.[1] ?? '';
    const nightly = row('nightly &#60;b&#62;');
    expect(nightly).toContain('<td>later</td>');
    expect(nightly).toContain('&#34;&#60;script&#62;x&#60;/script&#62;&#34;');
    expect(nightly).toContain('<span class="when">every day at 03:00 (UTC)</span>');
    expect(nightly).toContain('<code class="muted">cron 0 3 * * * tz UTC</code>');
    const day = 86_400_000;
    const today = Math.floor(Date.now() / day) * day + 3 * 3_600_000;
    const first = today > Date.now() ? today : today + day;
    const fires = [...nightly.matchAll(/<li><time datetime="([^"]+)"/g)].map((m) => Date.parse(m[1]!));
    expect(fires).toEqual([first, first + day, first + 2 * day]);
    expect(nightly).toContain('not yet');
    expect(nightly).toContain('until <time datetime="2100-01-01T00:00:00.000Z">');
    expect(nightly).toContain('missed fires: the latest caught up');
    expect(nightly).toContain('data-confirm="Remove schedule nightly &#60;b&#62;? Fires already queued still run."');
    const tick = row('tick');
    expect(tick).toContain('every 1 second');
    expect(tick).toMatch(/<td class="last"><time datetime="[^"]+">[^<]+<\/time> <span class="muted">\(\d+s ago\)<\/span><\/td>/);
    expect(tick).toContain('missed fires: skipped');

    // Read-only: no remove button, and the action is refused.
    const readOnly = await serve(app, { auth: false, readOnly: true });
    const roPage = await (await fetch(`${readOnly}/schedules`)).text();
    expect(roPage).toContain('every day at 03:00 (UTC)');
    expect(roPage).not.toContain('data-action="unschedule"');
    expect((await post(readOnly, '/actions/unschedule', { id: 'tick', _csrf: await token(url) })).status).toBe(403);

    const csrf = await token(url);
    const removed = await post(url, '/actions/unschedule', { id: 'nightly <b>', _csrf: csrf });
    expect(removed.status).toBe(303);
    expect(removed.headers.get('location')).toBe('/schedules?ok=unscheduled');
    expect((await app.schedules()).map((s) => s.id)).toEqual(['tick']);
    const after = await (await fetch(`${url}${removed.headers.get('location')!}`)).text();
    expect(after).toContain('Schedule removed.');
    expect(after).not.toContain('nightly');
    expect((await post(url, '/actions/unschedule', { id: 'nightly <b>', _csrf: csrf })).headers.get('location')).toBe('/schedules?ok=not-unscheduled');
    expect((await post(url, '/actions/unschedule', { _csrf: csrf })).status).toBe(400);
  });

  it('serves its live stream as Server-Sent Events', async () => {
    const app = await started();
    const url = await serve(app, { auth: false });
    const ctrl = new AbortController();
    const res = await fetch(`${url}/events`, { signal: ctrl.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const id = await deadTask(app, ['seen']);
    while (!text.includes(id) || !text.includes('event: stats')) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('event: hello');
    ctrl.abort();
  });
});
