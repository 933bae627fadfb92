/**
 * Several apps in one process, each with its own plugin set: nothing is shared unless passed in,
 * and no app needs appMain.
 */
import { pino as createPino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes, Logger, appMain, loggerMain } from '../../core/index.js';
import { MemoryBackend, memory } from '../../plugins/memory/index.js';
import { pino } from '../../plugins/pino/index.js';
import { appsWithCleanGlobals } from '../support/apps.js';
import { LogSink } from '../support/log-sink.js';

const make = appsWithCleanGlobals();

describe('two apps with globals: false', () => {
  it('run end to end side by side with no appMain and no loggerMain', async () => {
    const a = make({ name: 'twin', globals: false, config: { logLevel: 'silent' } });
    const b = make({ name: 'twin', globals: false, config: { logLevel: 'silent' } });
    // Same app name and task name, different handlers: each app runs its own.
    const ta = a.task('which', (n: number) => `a${n}`);
    const tb = b.task('which', (n: number) => `b${n}`);
    await Promise.all([a.start(), b.start()]);
    expect(appMain()).toBeUndefined();
    const [ra, rb] = await Promise.all([ta.addTask([1], { timeout: 5_000 }), tb.addTask([2], { timeout: 5_000 })]);
    expect([ra.returning, rb.returning]).toEqual(['a1', 'b2']);
    // The default memory parts are per app, even under one name: b never saw a's task.
    expect(await b.get(ra.id)).toBeUndefined();
    expect(appMain()).toBeUndefined();
    expect(loggerMain()).toBeUndefined();
  });
});

describe('apps with different plugin sets in one process', () => {
  it('share no registry, parts, config, level or logger; stopping one leaves the other running', async () => {
    const sink = new LogSink();
    const host = createPino({ level: 'info' }, sink);
    const stderr: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });

    // A: memory broker + pino on the host's logger. B: its own memory backend, no logging plugin.
    const a = make({ name: 'alpha', globals: false, config: { concurrency: 2 }, plugins: [memory(), pino({ logger: host })] });
    const b = make({
      name: 'beta',
      globals: false,
      config: { concurrency: 7, logFormat: 'json' },
      plugins: [memory({ name: 'beta-memory', backend: new MemoryBackend() })],
    });
    const seen = { alpha: 0, beta: 0 };
    const countA = a.task('count', () => ++seen.alpha);
    const countB = b.task('count', () => ++seen.beta);
    a.task('only-alpha', () => 'a');

    await Promise.all([a.start(), b.start()]);

    // Registry and config.
    expect(a.tasks.has('only-alpha')).toBe(true);
    expect(b.tasks.has('only-alpha')).toBe(false);
    expect([a.config.concurrency, b.config.concurrency]).toEqual([2, 7]);
    // Parts: each app resolved its own.
    expect(a.broker).not.toBe(b.broker);
    expect(a.storage).not.toBe(b.storage);
    expect(a.globalConfig).not.toBe(b.globalConfig);

    // Counters: each app's task ran against its own state.
    await countA.addTask([], { timeout: 5_000 });
    await countA.addTask([], { timeout: 5_000 });
    const rb = await countB.addTask([], { timeout: 5_000 });
    expect(rb.returning).toBe(1);
    expect(seen).toEqual({ alpha: 2, beta: 1 });

    // Loggers: A's lines go to the host sink only; B made its own local Logger (stderr here).
    expect(a.logger('Worker')).not.toBe(b.logger('Worker'));
    expect(b.logger('Worker')).toBeInstanceOf(Logger);
    expect(sink.records.every((r) => r.app === 'alpha')).toBe(true);
    expect(sink.where({ app: 'alpha', msg: 'app started' })).toHaveLength(1);
    const betaLines = stderr.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(betaLines.some((r) => r.name === 'beta' && r.msg === 'app started')).toBe(true);
    expect(betaLines.every((r) => r.name === 'beta')).toBe(true);

    // Levels: per app.
    a.logLevel = 'debug';
    expect(b.logLevel).toBe('info');
    b.logLevel = 'error';
    expect(a.logLevel).toBe('debug');
    expect(host.level).toBe('info');

    // Stopping A leaves B running.
    await a.stop();
    expect(a.state).toBe('stopped');
    await expect(countA.addTask([])).rejects.toMatchObject({ code: ErrorCodes.NOT_STARTED });
    expect(b.state).toBe('started');
    expect((await countB.addTask([], { timeout: 5_000 })).returning).toBe(2);
  });

  it('share a queue only when the user passes the same backend to both', async () => {
    const backend = new MemoryBackend();
    const producer = make({ name: 'shared-q', globals: false, config: { logLevel: 'silent' }, plugins: [memory({ backend })] });
    const worker = make({ name: 'shared-q', globals: false, config: { logLevel: 'silent' }, plugins: [memory({ backend })] });
    worker.task('ping', () => 'pong');
    await producer.start({ worker: false });
    await worker.start();
    const record = await producer.addTask('ping', [], { timeout: 5_000 });
    expect(record.returning).toBe('pong');
  });
});
