// Flows run by the workers: parents after their children, ctx.childResults(), failure policies;
// on memory, Redis, and RabbitMQ with Redis storage.
import { describe, expect, it } from 'vitest';
import { ErrorCodes, QueueTasks, type FlowNode } from '../../core/index.js';
import { workflowApps } from './brokers.js';

const { brokers, makeApp } = workflowApps(8);

describe.each(brokers.setups)('flow on $name', (setup) => {
  it('runs a 3-level flow of 100 children, each parent once, after its children, with their results', async () => {
    const app = makeApp(brokers.appName('flow'), setup);
    const runs = new Map<string, number>();
    const leaf = app.task('leaf', (n: number) => n);
    const sum = app.task({ name: 'sum', echo: true }, (ctx, label: string) => {
      runs.set(label, (runs.get(label) ?? 0) + 1);
      return ctx.childResults().reduce((a, c) => a + (c.returning as number), 0);
    });
    await app.start();
    // root <- 10 middles <- 10 leaves each: 100 leaves, 111 tasks.
    const root: FlowNode = {
      task: sum,
      args: ['root'],
      children: Array.from({ length: 10 }, (_, m) => ({
        task: sum,
        args: [`mid${m}`],
        children: Array.from({ length: 10 }, (_, l) => ({ task: leaf, args: [m * 10 + l] })),
      })),
    };
    const done = await app.flow(root, { timeout: 60_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe((99 * 100) / 2);
    expect(done.name).toBe('sum');
    await new Promise((r) => setTimeout(r, 300));
    expect(runs.size).toBe(11);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
  }, 90_000);

  it('applies each child\'s policy: failParent fails the parent, ignore leaves it out, continue lists its error', async () => {
    const app = makeApp(brokers.appName('policy'), setup);
    const ok = app.task('ok', (n: number) => n);
    const bad = app.task('bad', (n: number): number => {
      throw new Error(`bad ${n}`);
    });
    let parentRuns = 0;
    const parent = app.task({ name: 'parent', echo: true }, (ctx) => {
      parentRuns++;
      return ctx.childResults().map((c) => (c.status === 'success' ? c.returning : `failed: ${c.error?.message}`));
    });
    await app.start();
    const mixed = await app.flow(
      { task: parent, children: [{ task: ok, args: [1] }, { task: bad, args: [2], policy: 'ignore' }, { task: bad, args: [3], policy: 'continue' }] },
      { timeout: 20_000 },
    );
    expect(mixed.status).toBe('success');
    expect(mixed.returning).toEqual([1, 'failed: bad 3']);
    // failParent (the default) two levels down: the middle fails without running, then the root.
    const failing = await app.flow(
      { task: parent, children: [{ task: ok, args: [1] }, { task: parent, children: [{ task: bad, args: [4] }] }] },
      { timeout: 20_000 },
    );
    expect(failing.status).toBe('error');
    expect(failing.error?.message).toMatch(/ended in error/);
    expect(parentRuns).toBe(1);
  });
});

describe('flow bad input', () => {
  it('refuses a cycle, a node without a task, an unknown policy', async () => {
    const app = new QueueTasks({ name: 'wf-flow-bad', config: { logLevel: 'silent' }, globals: false });
    const t = app.task('t', (n: number) => n);
    const node: { task: typeof t; args: number[]; children: FlowNode[] } = { task: t, args: [1], children: [] };
    node.children.push(node);
    await expect(app.flow(node)).rejects.toThrow(/cycle/);
    await expect(app.flow({ task: t, children: [{ args: [1] } as unknown as FlowNode] })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGS });
    await expect(app.flow({ task: t, children: [{ task: t, policy: 'nope' as 'ignore' }] })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
  });
});
