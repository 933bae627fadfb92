// Chains containing groups: chain(a.with(x), group([...]), c) runs the members once a succeeded,
// and c with the list of their results; on memory, Redis, and RabbitMQ with Redis storage.
import { describe, expect, it } from 'vitest';
import { chain, group } from '../../core/index.js';
import { workflowApps } from './brokers.js';

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
    const view = (await app.workflow(done.id))!;
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
