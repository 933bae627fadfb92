// app.cancelWorkflow(id): queued steps removed, running ones cancelled, nothing enqueued after it
// (not even by a step that was moving the workflow on at that moment); on memory, Redis, and
// RabbitMQ with Redis storage. The cross-process case is in crash.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { QueueTasks, chain, chord, group } from '../../core/index.js';
import { gate, waitUntil } from '../contracts/helpers.js';
import { workflowBrokers } from './brokers.js';

const brokers = workflowBrokers();
const apps: QueueTasks[] = [];
const gates: Array<() => void> = [];
afterAll(async () => {
  for (const open of gates) open();
  await Promise.allSettled(apps.map((a) => a.stop()));
  await brokers.cleanup();
});

function makeApp(name: string, setup: (typeof brokers.setups)[number], concurrency = 2): QueueTasks {
  const app = new QueueTasks({ name, plugins: setup.plugins(name), config: { logLevel: 'silent', concurrency }, globals: false });
  apps.push(app);
  return app;
}

function held(): Promise<void> {
  const g = gate();
  gates.push(g.open);
  return g.promise;
}

describe.each(brokers.setups)('cancelWorkflow on $name', (setup) => {
  it('cancels a chain\'s running step; the chain stops there and its record is cancel', async () => {
    const app = makeApp(brokers.appName('cancel-chain'), setup);
    const hold = held();
    let threeRan = 0;
    const one = app.task('one', (n: number) => n + 1);
    const two = app.task('two', async (n: number) => {
      await hold; // ignores its signal: the cancel must stop the chain all the same
      return n * 10;
    });
    const three = app.task('three', (n: number) => {
      threeRan++;
      return n;
    });
    await app.start();
    const { id } = await chain(one.with([1]), two, three).addTask();
    await waitUntil(async () => (await app.get(`${id}.1`))?.status === 'process', 'step two running', 15_000);
    const res = await app.cancelWorkflow(id, 'user asked');
    expect(res).toEqual({ id, outcome: 'cancelled', steps: [{ id: `${id}.1`, found: 'running' }] });
    const record = await app.wait(id, 15_000);
    expect(record).toMatchObject({ status: 'cancel', reason: 'user asked' });
    expect((await app.wait(`${id}.1`, 15_000)).status).toBe('cancel');
    expect(threeRan).toBe(0);
    const view = (await app.workflow(id))!;
    expect(view.status).toBe('cancel');
    expect(view.steps.map((s) => s.status)).toEqual(['success', 'cancel', 'cancel']);
    expect(await app.cancelWorkflow(id)).toEqual({ id, outcome: 'final', steps: [] });
    expect(await app.cancelWorkflow('no-such-workflow')).toEqual({ id: 'no-such-workflow', outcome: 'unknown', steps: [] });
  });

  it('a step enqueued while the cancel runs is cancelled by the worker that enqueued it', async () => {
    const app = makeApp(brokers.appName('cancel-race'), setup);
    let twoRan = 0;
    const one = app.task('one', (n: number) => n + 1);
    const two = app.task('two', (n: number) => {
      twoRan++;
      return n;
    });
    const three = app.task('three', (n: number) => n);
    // The cancel happens after step one's worker checked the workflow and before it published
    // step two: the worker's check after publishing must catch it.
    let cancelling: Promise<unknown> | undefined;
    app.hooks.broker.beforePublish.tapPromise('cancel-now', async (message) => {
      if (message.name === 'two' && cancelling === undefined) {
        const wf = (message.meta?.['qtasks.workflow'] as { id: string }).id;
        cancelling = app.cancelWorkflow(wf, 'mid-step');
        await cancelling;
      }
      return message;
    });
    await app.start();
    const { id } = await chain(one.with([1]), two, three).addTask();
    expect((await app.wait(`${id}.1`, 15_000)).status).toBe('cancel');
    expect(await cancelling).toMatchObject({ outcome: 'cancelled' });
    expect((await app.wait(id, 15_000)).status).toBe('cancel');
    expect(twoRan).toBe(0);
  });

  it('cancels a chord\'s queued and running members; its callback never runs', async () => {
    const app = makeApp(brokers.appName('cancel-chord'), setup);
    const hold = held();
    let sumRan = 0;
    const slow = app.task('slow', async (n: number) => {
      await hold;
      return n;
    });
    const sum = app.task('sum', (ns: number[]) => {
      sumRan++;
      return ns.length;
    });
    await app.start();
    const { id } = await chord(group([1, 2, 3, 4, 5].map((n) => slow.with([n]))), sum).addTask();
    await waitUntil(async () => (await app.workflow(id))?.status === 'process', 'members running', 15_000);
    const res = await app.cancelWorkflow(id);
    expect(res.outcome).toBe('cancelled');
    expect(res.steps.map((s) => s.id).sort()).toEqual([0, 1, 2, 3, 4].map((j) => `${id}.m${j}`));
    expect(res.steps.filter((s) => s.found === 'running').length).toBeGreaterThan(0);
    expect(res.steps.every((s) => s.found === 'running' || s.found === 'queued')).toBe(true);
    for (let j = 0; j < 5; j++) expect((await app.wait(`${id}.m${j}`, 15_000)).status).toBe('cancel');
    expect((await app.wait(id, 15_000)).reason).toBe('workflow cancelled');
    expect(sumRan).toBe(0);
  });

  it('cancels a chain inside its group step: members cancelled, the step after the group never runs', async () => {
    const app = makeApp(brokers.appName('cancel-cg'), setup, 4);
    const hold = held();
    let zipRan = 0;
    const prepare = app.task('prepare', (n: number) => n);
    const resize = app.task('resize', async (url: string) => {
      await hold;
      return url;
    });
    const zip = app.task('zip', (files: string[]) => {
      zipRan++;
      return files.length;
    });
    await app.start();
    const { id } = await chain(prepare.with([1]), group([resize.with(['a']), resize.with(['b'])]), zip).addTask();
    await waitUntil(async () => (await app.get(`${id}.1.m1`))?.status === 'process', 'members running', 15_000);
    const res = await app.cancelWorkflow(id);
    expect(res.steps.map((s) => s.id).sort()).toEqual([`${id}.1.m0`, `${id}.1.m1`]);
    for (const m of ['m0', 'm1']) expect((await app.wait(`${id}.1.${m}`, 15_000)).status).toBe('cancel');
    const view = (await app.workflow(id))!;
    expect(view.steps.map((s) => `${s.name}:${s.status}`)).toEqual(['prepare:success', 'group:cancel', 'zip:cancel']);
    expect(zipRan).toBe(0);
  });

  it('cancels a flow: its leaves, and its parents are never enqueued', async () => {
    const app = makeApp(brokers.appName('cancel-flow'), setup, 8);
    const hold = held();
    let parentRan = 0;
    const leaf = app.task('leaf', async (n: number) => {
      if (n > 1) await hold;
      return n;
    });
    const parent = app.task('parent', () => ++parentRan);
    await app.start();
    const { id } = await app.flow({
      task: parent,
      children: [{ task: parent, children: [{ task: leaf, args: [1] }] }, { task: parent, children: [2, 3, 4].map((n) => ({ task: leaf, args: [n] })) }],
    });
    await waitUntil(async () => (await app.get(`${id}.m0`))?.status === 'success', 'first parent done', 15_000);
    expect((await app.cancelWorkflow(id)).outcome).toBe('cancelled');
    expect((await app.wait(id, 15_000)).status).toBe('cancel');
    for (let j = 0; j < 3; j++) expect((await app.wait(`${id}.m1.m${j}`, 15_000)).status).toBe('cancel');
    const view = (await app.workflow(id))!;
    expect(view.steps[0]!.children!.map((c) => c.status)).toEqual(['success', 'skipped']);
    expect(parentRan).toBe(1);
  });
});
