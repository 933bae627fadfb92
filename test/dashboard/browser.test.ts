/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) over real tasks
 * on Redis: a worker app runs the tasks, a second app of the same name (worker off) serves the
 * dashboard, as an operator's process would. With QTASKS_SCREENSHOTS=1 the test also writes the
 * screenshots docs/dashboard.md shows (CI leaves tracked files alone).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { dashboard, type DashboardHandler } from '../../dashboard/index.js';
import { redis } from '../../plugins/redis/index.js';
import { crashUntilDead, startCrashWorker, stopCrashWorkers } from '../cli/dead-letters.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.QTASKS_SCREENSHOTS === '1';
const IMG = resolve(import.meta.dirname, '..', '..', 'docs', 'img');

function makeApp(name: string): QueueTasks {
  return new QueueTasks({ name, plugins: [redis({ url: REDIS_URL, blockTimeoutMs: 500 })], config: { logLevel: 'silent', heartbeatMs: 500, stopTimeoutMs: 2_000 }, globals: false });
}

describe('dashboard in Chromium (Redis)', () => {
  const name = uniqueName('dash-browser');
  const worker = makeApp(name);
  const ops = makeApp(name);
  let fixed = false;
  let context: BrowserContext;
  let page: Page;
  let dir: string;
  const servers: Server[] = [];
  const handlers: DashboardHandler[] = [];
  let url = '';

  worker.task('flaky', (what: string) => {
    if (!fixed) throw new Error(`broken ${what}`);
    return `fixed ${what}`;
  });
  worker.task({ name: 'slow', echo: true }, async (ctx) => {
    ctx.progress({ step: 'halfway' });
    await new Promise<void>((done) => ctx.signal.addEventListener('abort', () => done()));
  });
  worker.task('quick', (n: number) => n * 2);
  // The dashboard's app knows the same tasks (names and queues) without running them.
  for (const task of ['flaky', 'slow', 'quick']) ops.task(task, () => undefined);
  // `crash` runs in worker processes of test/fixtures/crash-app.ts (it kills them), not here.
  ops.task({ name: 'crash', queue: 'crash' }, () => undefined);

  async function serve(handler: DashboardHandler): Promise<string> {
    handlers.push(handler);
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function shot(file: string): Promise<void> {
    if (SHOTS) await page.screenshot({ path: join(IMG, file), fullPage: true });
  }

  async function failed(args: string): Promise<string> {
    const record = await ops.addTask('flaky', [args]);
    await waitUntil(async () => (await ops.get(record.id))?.status === 'error', 'the task to fail');
    return record.id;
  }

  beforeAll(async () => {
    // A missing browser fails loudly, as a missing server does; .ci/run installs it.
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    await worker.start();
    await ops.start({ worker: false });
    url = await serve(dashboard(ops, { auth: false }));
    dir = mkdtempSync(join(tmpdir(), 'qtasks-chromium-'));
    context = await chromium.launchPersistentContext(dir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('dialog', (dialog) => void dialog.accept());
  }, 60_000);

  afterAll(async () => {
    await stopCrashWorkers();
    await context?.close();
    for (const h of handlers) h.close();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((done) => s.close(() => done()));
    }
    await worker.stop();
    await ops.stop();
    const admin = await adminClient();
    await deleteAppKeys(admin, [name]);
    admin.disconnect();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('shows the queues live, and retrying a failed task from its page makes it succeed', async () => {
    for (let i = 0; i < 3; i++) await ops.addTask('quick', [i]);
    const id = await failed('order-17');
    await page.goto(`${url}/`);
    await page.locator('#live.on').waitFor();
    await page.locator('[data-q="default"][data-k="error"]', { hasText: /^[1-9]/ }).waitFor();
    await shot('dashboard-overview.png');

    await page.goto(`${url}/tasks?status=error`);
    await page.locator(`tr[data-id="${id}"] a`).first().click();
    await page.locator('#status', { hasText: 'error' }).waitFor();
    await page.locator('#error', { hasText: 'broken order-17' }).waitFor();
    await shot('dashboard-task-error.png');
    fixed = true;
    await page.locator('button[data-action="retry"]').click();
    await page.locator('#status', { hasText: 'success' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('pre.json').nth(1).textContent()).toContain('fixed order-17');
    expect((await ops.get(id))?.status).toBe('success');
    fixed = false;
  });

  it('cancels a running task and shows it cancelled, with its live progress', async () => {
    const record = await ops.addTask('slow', []);
    await waitUntil(async () => (await ops.get(record.id))?.status === 'process', 'the task to run');
    await page.goto(`${url}/tasks/${record.id}`);
    await page.locator('#progress', { hasText: 'halfway' }).waitFor();
    await page.locator('button[data-action="cancel"]').click();
    await page.locator('#status', { hasText: 'cancel' }).waitFor({ timeout: 15_000 });
    await page.locator('#reason', { hasText: 'cancelled from the dashboard' }).waitFor();
    expect((await ops.get(record.id))?.status).toBe('cancel');
  });

  it('shows a <script> payload as text', async () => {
    const payload = '<script>window.pwned = true</script><img src=x onerror="window.pwned = true">';
    const id = await failed(payload);
    await page.goto(`${url}/tasks/${id}`);
    expect(await page.locator('pre.json').first().textContent()).toContain(JSON.stringify(payload));
    await page.locator('#error', { hasText: `broken ${payload}` }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: boolean }).pwned)).toBeUndefined();
    await page.goto(`${url}/tasks?status=error`);
    expect(await page.locator(`tr[data-id="${id}"] td.preview`).textContent()).toContain('<script>');
    expect(await page.evaluate(() => (globalThis as unknown as { pwned?: boolean }).pwned)).toBeUndefined();
  });

  it('pausing a queue stops the worker (tasks stay waiting) until it is resumed', async () => {
    await page.goto(`${url}/`);
    await page.locator('tr[data-queue="default"] button[data-action="pause"]').click();
    await page.locator('[data-q="default"][data-k="paused"]', { hasText: 'paused' }).waitFor();
    const record = await ops.addTask('quick', [21]);
    await page.locator('[data-q="default"][data-k="waiting"]', { hasText: /^[1-9]/ }).waitFor();
    await shot('dashboard-paused.png');
    // The worker polls every 500 ms: three periods later the task still waits.
    await sleep(1_500);
    expect((await ops.get(record.id))?.status).toBe('new');
    await page.locator('tr[data-queue="default"] button[data-action="resume"]').click();
    await page.locator('[data-q="default"][data-k="paused"]', { hasText: 'active' }).waitFor();
    expect((await ops.wait(record.id, 10_000)).returning).toBe(42);
  });

  it('retries a dead letter (a task that took its worker down) from its row, and all the others with retry all', async () => {
    const flag = join(dir, 'crash.fixed');
    const env = { ...process.env, QT_APP: name, QT_REDIS_URL: REDIS_URL, QT_FLAG: flag };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await ops.addTask('crash', [`job-${i}`])).id);
    await crashUntilDead(env, async () => (await Promise.all(ids.map((id) => ops.get(id)))).every((r) => r?.status === 'dead'));

    await page.goto(`${url}/dead`);
    for (const id of ids) await page.locator(`tr[data-id="${id}"] .status`, { hasText: 'dead' }).waitFor();
    await shot('dashboard-dead.png');
    writeFileSync(flag, '');
    const fixedWorker = startCrashWorker(env);

    await page.locator(`tr[data-id="${ids[0]}"] button[data-action="retry"]`).click();
    await page.locator('.flash', { hasText: 'Retried: 1 task(s)' }).waitFor();
    await page.locator('#status', { hasText: 'success' }).waitFor({ timeout: 20_000 });
    expect(await page.locator('pre.json').nth(1).textContent()).toContain('fixed job-0');

    await page.goto(`${url}/dead?queue=crash`);
    expect(await page.locator('#tasks tbody tr').count()).toBe(2);
    await page.locator('button[data-action="retry-all"]').click();
    await page.locator('.flash', { hasText: 'Retried: 2 task(s)' }).waitFor();
    await page.locator('p.muted', { hasText: 'No tasks.' }).waitFor();
    for (const [i, id] of ids.entries()) expect(await ops.wait(id, 20_000)).toMatchObject({ status: 'success', returning: `fixed job-${i}` });
    expect(fixedWorker.exitCode).toBeNull();
  }, 120_000);

  it('shows the schedules in words with their next and last fires, and removes one after confirmation', async () => {
    await ops.schedule('weekday-report', { cron: '30 6 * * 1-5', tz: 'UTC' }, 'quick', [5]);
    await ops.schedule('twice', { every: 1_000 }, 'quick', [1], { limit: 2 });
    // The worker app runs the scheduler: `twice` fires twice, then never again.
    await waitUntil(async () => (await ops.schedules()).find((s) => s.id === 'twice')?.next === undefined, 'twice fired twice', 15_000);
    await page.goto(`${url}/schedules`);
    const report = page.locator('tr[data-schedule="weekday-report"]');
    await report.locator('.when', { hasText: 'every weekday (Monday to Friday) at 06:30 (UTC)' }).waitFor();
    expect(await report.locator('td.next li').count()).toBe(3);
    expect(await report.locator('td.last').textContent()).toBe('not yet');
    const twice = page.locator('tr[data-schedule="twice"]');
    expect(await twice.locator('td.next').textContent()).toBe('never again');
    expect(await twice.locator('td.last').textContent()).toMatch(/Z \(\d+s ago\)$/);
    await shot('dashboard-schedules.png');

    await twice.locator('button[data-action="unschedule"]').click();
    await page.locator('.flash', { hasText: 'Schedule removed.' }).waitFor();
    expect(await page.locator('tr[data-schedule]').count()).toBe(1);
    expect((await ops.schedules()).map((s) => s.id)).toEqual(['weekday-report']);
    await ops.unschedule('weekday-report');
  });

  it('lists dead letters, workers, and a read-only dashboard offers no action', async () => {
    await page.goto(`${url}/workers`);
    await page.locator('#workers tbody tr').first().waitFor();
    await shot('dashboard-workers.png');
    await page.goto(`${url}/dead`);
    await page.locator('h1', { hasText: 'Dead letters' }).waitFor();

    const id = await failed('read-only');
    const readOnly = await serve(dashboard(ops, { auth: false, readOnly: true }));
    await page.goto(`${readOnly}/tasks/${id}`);
    await page.locator('.note', { hasText: 'Read-only' }).waitFor();
    expect(await page.locator('button[data-action]').count()).toBe(0);
    const answer = await page.evaluate(async (target) => (await fetch(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `id=${target.length}` })).status, `${readOnly}/actions/retry`);
    expect(answer).toBe(403);
    // The full dashboard refuses a POST from its own page that lacks the token.
    await page.goto(`${url}/tasks/${id}`);
    const noToken = await page.evaluate(async (args) => (await fetch(args.target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `id=${encodeURIComponent(args.id)}` })).status, { target: `${url}/actions/retry`, id });
    expect(noToken).toBe(403);
    expect((await ops.get(id))?.status).toBe('error');
  });
});
