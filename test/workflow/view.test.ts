// app.workflow(id): each step's state for chains, groups, chords and flows, read from what the
// steps store; on memory, Redis, and RabbitMQ with Redis storage.
import { describe, expect, it } from 'vitest';
import { chain, chord, group, type WorkflowStep, type WorkflowView } from '../../core/index.js';
import { gate, waitUntil } from '../contracts/helpers.js';
import { settledView, workflowApps } from './brokers.js';

const { brokers, makeApp } = workflowApps(4);

/** name:status per step, children in brackets: a compact picture to compare. */
function shape(steps: readonly WorkflowStep[]): string[] {
  return steps.map((s) => `${s.name}:${s.status}${s.children !== undefined ? `[${shape(s.children).join(' ')}]` : ''}`);
}

describe.each(brokers.setups)('workflow view on $name', (setup) => {
  it('shows a chain step by step: done, running, not enqueued yet; then done', async () => {
    const app = makeApp(brokers.appName('view-chain'), setup);
    const held = gate();
    const one = app.task('one', (n: number) => ({ n: n + 1 }));
    const two = app.task('two', async (o: { n: number }) => {
      await held.promise;
      return o.n * 10;
    });
    const three = app.task('three', (n: number) => `=${n}`);
    await app.start();
    const { id } = await chain(one.with([1]), two, three).addTask();
    const running = await waitUntil(async () => {
      const v = await app.workflow(id);
      // Step two may start before step one is settled (a step moves the chain on before it settles).
      return v?.steps[0]?.status === 'success' && v.steps[1]?.status === 'process' ? v : undefined;
    }, 'step one done, step two running', 15_000);
    expect(running.kind).toBe('chain');
    expect(running.status).toBe('process');
    expect(shape(running.steps)).toEqual(['one:success', 'two:process', 'three:pending']);
    expect(running.steps[0]).toMatchObject({ id: `${id}.0`, attempts: 1, result: '{"n":2}' });
    expect(running.steps[2]).toMatchObject({ id, attempts: 0 });
    held.open();
    await app.wait(id, 15_000);
    const done = await settledView(app, id);
    expect(done).toMatchObject({ id, kind: 'chain', status: 'success', result: '"=20"' });
    expect(shape(done.steps)).toEqual(['one:success', 'two:success', 'three:success']);
  });

  it('shows a group\'s members, a chord\'s callback with its members, a failure\'s error', async () => {
    const app = makeApp(brokers.appName('view-group'), setup);
    const sq = app.task('sq', (n: number) => {
      if (n < 0) throw new Error(`negative ${n}`);
      return n * n;
    });
    const sum = app.task('sum', (ns: number[]) => ns.reduce((a, b) => a + b, 0));
    await app.start();
    const g = await group([1, 2, 3].map((n) => sq.with([n]))).addTask({ timeout: 15_000 });
    const gv: WorkflowView = await settledView(app, g.id);
    expect(gv).toMatchObject({ kind: 'group', status: 'success', result: '[1,4,9]' });
    expect(shape(gv.steps)).toEqual(['sq:success', 'sq:success', 'sq:success']);
    expect(gv.steps.map((s) => s.result)).toEqual(['1', '4', '9']);
    const c = await chord(group([sq.with([2]), sq.with([-1])]), sum).addTask({ timeout: 15_000 });
    const cv = await settledView(app, c.id);
    expect(cv).toMatchObject({ kind: 'chord', status: 'error' });
    expect(shape(cv.steps)).toEqual(['sum:error[sq:success sq:error]']); // the callback's id holds the workflow's record
    expect(cv.steps[0]!.children![1]!.error).toBe('negative -1');
    expect(await app.workflow('no-such-workflow')).toBeUndefined();
  });

  it('shows a flow as a tree, parents not enqueued yet listed from their children', async () => {
    const app = makeApp(brokers.appName('view-flow'), setup);
    const held = gate();
    const leaf = app.task('leaf', async (n: number) => {
      if (n === 3) await held.promise;
      return n;
    });
    const mid = app.task('mid', () => 'mid');
    const top = app.task({ name: 'top', echo: true }, (ctx) => ctx.childResults().length);
    await app.start();
    const { id } = await app.flow({
      task: top,
      children: [
        { task: mid, children: [{ task: leaf, args: [1] }, { task: leaf, args: [2] }] },
        { task: mid, children: [{ task: leaf, args: [3] }] },
      ],
    });
    const partial = await waitUntil(async () => {
      const v = await app.workflow(id);
      return v?.steps[0]?.children?.[0]?.status === 'success' ? v : undefined;
    }, 'first mid done', 15_000);
    expect(partial.kind).toBe('flow');
    expect(shape(partial.steps)).toEqual(['top:pending[mid:success[leaf:success leaf:success] mid:pending[leaf:process]]']);
    expect(partial.steps[0]!.children![1]!.children![0]!.id).toBe(`${id}.m1.m0`);
    held.open();
    await app.wait(id, 15_000);
    expect(shape((await settledView(app, id)).steps)).toEqual(['top:success[mid:success[leaf:success leaf:success] mid:success[leaf:success]]']);
  });
});
