/** The worker host from code (`qtasks/host`), in process, on the memory default. */
import { EventEmitter } from 'node:events';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ErrorCodes, definePlugin, type QueueTasks } from '../../core/index.js';
import { WorkerHost, WorkerHostError, runWorkers, type HostFailure, type HostedApp } from '../../host/index.js';
import { gate, waitUntil } from '../contracts/helpers.js';
import { appsWithCleanGlobals } from '../support/apps.js';

const make = appsWithCleanGlobals();
const quiet = { logLevel: 'silent' } as const;

const failingStart = definePlugin({
  name: 'fails',
  apply(app) {
    app.hooks.lifecycle.start.tapPromise('fails', async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw new Error('no credentials');
    });
  },
});

describe('WorkerHost', () => {
  it('starts every app with its own worker and applies the host-wide overrides', async () => {
    const a = make({ name: 'host-a', globals: false, config: quiet });
    const b = make({ name: 'host-b', globals: false, config: { ...quiet, concurrency: 9 } });
    const ta = a.task('t', () => 'a');
    const tb = b.task({ name: 't', queue: 'special' }, () => 'b');
    const host = new WorkerHost([a, { app: b, label: 'b.ts:app' }], { logLevel: 'error' });
    await host.start();
    expect(host.apps.map((h) => h.label)).toEqual(['host-a', 'b.ts:app']);
    expect([a.logLevel, b.logLevel]).toEqual(['error', 'error']);
    expect((await ta.addTask([], { timeout: 5_000 })).returning).toBe('a');
    expect((await tb.addTask([], { timeout: 5_000 })).returning).toBe('b');
    await host.stop();
    expect([a.state, b.state]).toEqual(['stopped', 'stopped']);
  });

  it('a failed start names the app and stops the others, started or still starting', async () => {
    const good = make({ name: 'host-good', globals: false, config: quiet });
    const bad = make({ name: 'host-bad', globals: false, config: quiet, plugins: [failingStart] });
    const host = new WorkerHost([good, { app: bad, label: 'bad.ts:app' }]);
    const err = await host.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkerHostError);
    expect(err).toMatchObject({ code: ErrorCodes.START_FAILED });
    expect((err as WorkerHostError).failures.map((f) => f.label)).toEqual(['bad.ts:app']);
    expect((err as Error).message).toContain('bad.ts:app: hook lifecycle.start failed in plugin "fails": no credentials');
    expect(good.state).toBe('stopped');
  });

  it('a bad host-wide option fails before any app starts', async () => {
    const a = make({ name: 'host-opt', globals: false, config: quiet });
    await expect(new WorkerHost([a], { logLevel: 'loud' as 'info' }).start()).rejects.toMatchObject({ code: ErrorCodes.START_FAILED });
    expect(a.state).toBe('stopped');
    expect(() => new WorkerHost([])).toThrow(/at least one app/);
    expect(() => new WorkerHost([a, a])).toThrow(/given twice/);
  });
});

describe('runWorkers', () => {
  it('runs until a signal, then drains the running tasks of every app', async () => {
    const signals = new EventEmitter();
    const a = make({ name: 'run-a', globals: false, config: quiet });
    const b = make({ name: 'run-b', globals: false, config: quiet });
    const release = gate();
    let begun = 0;
    let finished = 0;
    const slow = async (): Promise<string> => {
      begun++;
      await release.promise;
      finished++;
      return 'done';
    };
    const ta = a.task('slow', slow);
    const tb = b.task('slow', slow);
    let started = false;
    const running = runWorkers([a, b], { signalSource: signals, signals: ['SIGTERM'], onStarted: () => (started = true) });
    await waitUntil(() => started, 'host started');
    const ra = ta.addTask([], { timeout: 5_000 });
    const rb = tb.addTask([], { timeout: 5_000 });
    await waitUntil(() => begun === 2, 'both tasks running');
    signals.emit('SIGTERM', 'SIGTERM');
    // Stopping waits for the running tasks: release them a little later.
    setTimeout(release.open, 100);
    await running;
    expect(finished).toBe(2);
    expect([(await ra).status, (await rb).status]).toEqual(['success', 'success']);
    expect([a.state, b.state]).toEqual(['stopped', 'stopped']);
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });
});

describe('app.start overrides for one run', () => {
  it('rejects a bad concurrency or queue list, naming the app', async () => {
    const a = make({ name: 'start-opts', globals: false, config: quiet });
    await expect(a.start({ concurrency: 0 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION, message: expect.stringContaining('app "start-opts": concurrency') });
    await expect(a.start({ queues: [] })).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    expect(a.state).toBe('created');
  });
});

describe('types', () => {
  it('take apps or { app, label }, and numbers and queue names for the overrides', () => {
    const a = make({ name: 'types', globals: false, config: quiet });
    expectTypeOf(runWorkers).parameter(0).toEqualTypeOf<readonly (QueueTasks | HostedApp)[]>();
    expectTypeOf<WorkerHostError['failures']>().toEqualTypeOf<readonly HostFailure[]>();
    // @ts-expect-error an app, not its name
    expect(() => new WorkerHost(['types'])).toThrow();
    // @ts-expect-error concurrency is a number
    expect(() => new WorkerHost([a], { concurrency: '4' })).not.toThrow();
    // @ts-expect-error queues is a list
    expect(() => new WorkerHost([{ app: a, label: 'x' }], { queues: 'a,b' })).not.toThrow();
  });
});
