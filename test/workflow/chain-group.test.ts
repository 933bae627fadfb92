// Chains containing groups: chain(a.with(x), group([...]), c) runs the members once a succeeded,
// and c with the list of their results; on memory, Redis, and RabbitMQ with Redis storage. A group
// may also come first. A storage without Storage.join still runs groups (the sibling scan).
import { describe, expect, it } from 'vitest';
import { QueueTasks, chain, chord, group, type Storage } from '../../core/index.js';
import type { Plugin } from '../../core/plugin.js';
import { MemoryBackend, MemoryStorage, memory } from '../../plugins/memory/index.js';
import { settledView, workflowApps } from './brokers.js';

const { brokers, makeApp } = workflowApps(4);

describe.each(brokers.setups)('chain with groups on $name', (setup) => {
  it('runs the group after the step before it, and gives the next step the list of results', async () => {
    const app = makeApp(brokers.appName('cg'), setup);
    const order: string[] = [];
    const prepare = app.task('prepare', (n: number) => {
      order.push('prepare');
      return n;
    });
    const resize = app.task('resize', async (url: string, width: number) => {
      order.push(`resize ${url}`);
      await new Promise((r) => setTimeout(r, url === 'a' ? 30 : 0)); // the first member ends last
      return `${url}@${width}`;
    });
    const zip = app.task('zip', (files: string[]) => `zip(${files.join(',')})`);
    const size = app.task('size', (s: string) => s.length);
    await app.start();
    const done = await chain(prepare.with([1]), group([resize.with(['a', 100]), resize.with(['b', 200])]), zip, size).addTask({ timeout: 15_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe('zip(a@100,b@200)'.length);
    expect(order[0]).toBe('prepare');
    const view = await settledView(app, done.id);
    expect(view.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['prepare:success', 'group:success', 'zip:success', 'size:success']);
    expect(view.steps[1]!.children!.map((c) => c.result)).toEqual(['"a@100"', '"b@200"']);
    // A group as the last step: the chain's result is the list.
    const last = await chain(prepare.with([2]), group([resize.with(['c', 1]), resize.with(['d', 2])])).addTask({ timeout: 15_000 });
    expect(last.returning).toEqual(['c@1', 'd@2']);
    // Two groups in a row: the second's members run after the first's all ended.
    const two = await chain(prepare.with([3]), group([resize.with(['e', 1])]), group([resize.with(['f', 2]), resize.with(['g', 3])]), zip).addTask({ timeout: 15_000 });
    expect(two.returning).toBe('zip(f@2,g@3)');
  });

  it('a failed member stops the chain with its error on the workflow record', async () => {
    const app = makeApp(brokers.appName('cg-fail'), setup);
    let zipRan = 0;
    const prepare = app.task('prepare', (n: number) => n);
    const resize = app.task('resize', (url: string) => {
      if (url === 'bad') throw new Error('cannot resize bad');
      return url;
    });
    const zip = app.task('zip', (files: string[]) => {
      zipRan++;
      return files.length;
    });
    await app.start();
    const done = await chain(prepare.with([1]), group([resize.with(['ok']), resize.with(['bad'])]), zip).addTask({ timeout: 15_000 });
    expect(done.status).toBe('error');
    expect(done.error?.message).toMatch(/group member .*\.1\.m1 \(task "resize"\) ended in error: cannot resize bad/);
    expect(zipRan).toBe(0);
  });
});

describe.each(brokers.setups)('chain starting with a group on $name', (setup) => {
  it('runs the members, then the next steps with the list of their results; the view lists them', async () => {
    const app = makeApp(brokers.appName('cg-first'), setup);
    let zips = 0;
    const resize = app.task('resize', async (url: string, width: number) => {
      await new Promise((r) => setTimeout(r, url === 'a' ? 30 : 0)); // the first member ends last
      return `${url}@${width}`;
    });
    const zip = app.task('zip', (files: string[]) => {
      zips++;
      return `zip(${files.join(',')})`;
    });
    const size = app.task('size', (s: string) => s.length);
    await app.start();
    const done = await chain(group([resize.with(['a', 100]), resize.with(['b', 200]), resize.with(['c', 300])]), zip, size).addTask({ timeout: 15_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe('zip(a@100,b@200,c@300)'.length);
    expect(zips).toBe(1);
    const view = await settledView(app, done.id);
    expect(view.kind).toBe('chain');
    expect(view.steps.map((s) => `${s.id.slice(done.id.length)}:${s.name}:${s.status}`)).toEqual(['.0:group:success', '.1:zip:success', ':size:success']);
    expect(view.steps[0]!.children!.map((c) => c.result)).toEqual(['"a@100"', '"b@200"', '"c@300"']);
    // Only the group: a group's workflow.
    const alone = await chain(group([resize.with(['d', 1])])).addTask({ timeout: 15_000 });
    expect(alone.returning).toEqual(['d@1']);
  });

  it('a failed member of the first group stops the chain with its error', async () => {
    const app = makeApp(brokers.appName('cg-first-fail'), setup);
    let zips = 0;
    const resize = app.task('resize', (url: string) => {
      if (url === 'bad') throw new Error('cannot resize bad');
      return url;
    });
    const zip = app.task('zip', (files: string[]) => {
      zips++;
      return files.length;
    });
    await app.start();
    const failed = await chain(group([resize.with(['ok']), resize.with(['bad'])]), zip).addTask({ timeout: 15_000 });
    expect(failed.status).toBe('error');
    expect(failed.error?.message).toMatch(/group member .*\.0\.m1 \(task "resize"\) ended in error: cannot resize bad/);
    expect(zips).toBe(0);
  });
});

// A storage without `join` (a custom storage plugin): the members fall back to reading their siblings.
describe('groups on a storage without join', () => {
  it('a chord and a flow complete, each callback once, through the sibling scan', async () => {
    const name = brokers.appName('nojoin');
    const backend = new MemoryBackend();
    const inner = new MemoryStorage(backend);
    const plain: Storage = {
      name: 'plain',
      start: (ctx) => inner.start(ctx),
      save: (r, o) => inner.save(r, o),
      get: (id) => inner.get(id),
      reserve: (r, o) => inner.reserve(r, o),
      waitFinal: (id, ms) => inner.waitFinal(id, ms),
      stop: () => inner.stop(),
    };
    const plugins: Plugin[] = [memory({ backend, storage: false }), { name: 'plain', apply: (a) => void a.hooks.storage.provide.tap('plain', () => plain) }];
    const app = new QueueTasks({ name, plugins, config: { logLevel: 'silent', concurrency: 8 }, globals: false });
    try {
      let sums = 0;
      const sq = app.task('sq', async (n: number) => {
        await new Promise((r) => setTimeout(r, n % 7));
        return n * n;
      });
      const sum = app.task('sum', (ns: number[]) => {
        sums++;
        return ns.reduce((a, b) => a + b, 0);
      });
      await app.start();
      const done = await chord(group(Array.from({ length: 50 }, (_, i) => sq.with([i]))), sum).addTask({ timeout: 15_000 });
      expect(done.returning).toBe(Array.from({ length: 50 }, (_, i) => i * i).reduce((a, b) => a + b, 0));
      expect(sums).toBe(1);
      const first = await chain(group([sq.with([2]), sq.with([3])]), sum).addTask({ timeout: 15_000 });
      expect(first.returning).toBe(13);
    } finally {
      await app.stop();
    }
  });
});
