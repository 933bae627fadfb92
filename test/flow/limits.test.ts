/**
 * Rate limits and global concurrency (issue 15): app-wide, in every sliding window, across worker
 * processes on Redis; in process on memory; through Redis counters with RabbitMQ. RateLimitError
 * puts a task back without spending an attempt.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import type { Broker, ConsumeOptions, QueueClaimLimits } from '../../core/contracts.js';
import { splitQueueLimits } from '../../core/flow/gate.js';
import type { QueueOptions } from '../../core/flow/queues.js';
import { ErrorCodes, QTasksError, RateLimitError } from '../../core/errors.js';
import type { Plugin } from '../../core/plugin.js';
import { memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { rabbitmq } from '../../plugins/rabbitmq/index.js';
import { MemoryBackend } from '../../plugins/memory/backend.js';
import { sleep, uniqueName, waitUntil } from '../contracts/helpers.js';
import { startChild, type Child as Proc } from '../support/child.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/flow-worker.ts', import.meta.url));
const fx = new RabbitFixture();
const redisApps: string[] = [];
afterAll(async () => {
  await fx.close();
  const admin = await adminClient();
  await deleteAppKeys(admin, redisApps);
  admin.disconnect();
});

const BASE: Partial<Config> = { logLevel: 'silent', leaseMs: 2_000, stopTimeoutMs: 2_000, concurrency: 8 };

/** The most starts within any window of `ms` (times sorted). */
function maxInWindow(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** The most runs overlapping at any instant, from start and end times. */
function maxOverlap(starts: number[], ends: number[]): number {
  const events = [...starts.map((t) => [t, 1] as const), ...ends.map((t) => [t, -1] as const)].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0;
  let best = 0;
  for (const [, d] of events) best = Math.max(best, (cur += d));
  return best;
}

function worker(app: string): Proc {
  return startChild(FIXTURE, { QT_APP: app, QT_REDIS_URL: REDIS_URL });
}

const times = (procs: Proc[], prefix: string): number[] => procs.flatMap((p) => p.lines.filter((l) => l.startsWith(prefix)).map((l) => Number(l.split(' ')[2])));

describe('three worker processes on Redis', () => {
  const procs: Proc[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) p.proc.kill('SIGKILL');
  });

  async function start(): Promise<QueueTasks> {
    const name = uniqueName('flow-limits');
    redisApps.push(name);
    for (let i = 0; i < 3; i++) procs.push(worker(name));
    await Promise.all(procs.map((p) => p.ready));
    const producer = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: BASE, globals: false, sharedTasks: false });
    await producer.start({ worker: false });
    return producer;
  }

  it('a 20-per-second limit holds in every one-second window, and every task runs', async () => {
    const producer = await start();
    try {
      const records = await producer.addTasks(Array.from({ length: 70 }, (_, i) => ({ name: 'limited', args: [i] })));
      const finals = await Promise.all(records.map((r) => producer.wait(r.id, 15_000)));
      expect(finals.every((f) => f.status === 'success')).toBe(true);
      // the lines come over pipes, which may trail the results
      await waitUntil(() => times(procs, 'start limited').length >= 70, 'every start line', 5_000);
      const starts = times(procs, 'start limited');
      expect(starts).toHaveLength(70);
      expect(maxInWindow(starts, 1_000)).toBeLessThanOrEqual(20);
      // every process took part: the limit is app-wide, not one process running alone
      expect(procs.filter((p) => p.lines.some((l) => l.startsWith('start limited'))).length).toBeGreaterThan(1);
    } finally {
      await producer.stop();
    }
  }, 30_000);

  it('globalConcurrency 2: never more than two running across the three workers', async () => {
    const producer = await start();
    try {
      const records = await producer.addTasks(Array.from({ length: 24 }, (_, i) => ({ name: 'pair', args: [i] })));
      const finals = await Promise.all(records.map((r) => producer.wait(r.id, 15_000)));
      expect(finals.every((f) => f.status === 'success')).toBe(true);
      await waitUntil(() => times(procs, 'end pair').length >= 24, 'every end line', 5_000);
      const starts = times(procs, 'start pair');
      const ends = times(procs, 'end pair');
      expect(starts).toHaveLength(24);
      expect(maxOverlap(starts, ends)).toBe(2);
    } finally {
      await producer.stop();
    }
  }, 30_000);

  it('queue limits: 20 per second and 2 at once for every task of the queue together, across the three workers', async () => {
    const producer = await start();
    try {
      const records = await producer.addTasks([
        ...Array.from({ length: 70 }, (_, i) => ({ name: i % 2 === 0 ? 'meterA' : 'meterB', args: [i], options: { queue: 'metered' } })),
        ...Array.from({ length: 24 }, (_, i) => ({ name: i % 2 === 0 ? 'narrowA' : 'narrowB', args: [i], options: { queue: 'narrow' } })),
      ]);
      const finals = await Promise.all(records.map((r) => producer.wait(r.id, 20_000)));
      expect(finals.every((f) => f.status === 'success')).toBe(true);
      await waitUntil(() => times(procs, 'start metered').length >= 70 && times(procs, 'end narrow').length >= 24, 'every line', 5_000);
      const metered = times(procs, 'start metered');
      expect(metered).toHaveLength(70);
      expect(maxInWindow(metered, 1_000)).toBeLessThanOrEqual(20);
      expect(maxOverlap(times(procs, 'start narrow'), times(procs, 'end narrow'))).toBe(2);
    } finally {
      await producer.stop();
    }
  }, 30_000);
});

interface Setup {
  readonly name: string;
  readonly plugins: (app: string, shared: MemoryBackend) => Plugin[];
}

const SETUPS: Setup[] = [
  { name: 'memory (three apps on one backend)', plugins: (_app, shared) => [memory({ backend: shared })] },
  { name: 'redis (three apps)', plugins: () => [redis({ url: REDIS_URL })] },
  { name: 'rabbitmq + redis storage (three apps)', plugins: (app) => [fx.plugin(app), redis({ url: REDIS_URL, broker: false })] },
];

describe.each(SETUPS)('limits on $name', (setup) => {
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  afterEach(async () => {
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await fx.cleanup(names.splice(0));
  });

  async function three(register: (app: QueueTasks) => void): Promise<QueueTasks[]> {
    const name = uniqueName('flow-limits');
    names.push(name);
    redisApps.push(name);
    const shared = new MemoryBackend();
    const out: QueueTasks[] = [];
    for (let i = 0; i < 3; i++) {
      const app = new QueueTasks({ name, plugins: setup.plugins(name, shared), config: BASE, globals: false, sharedTasks: false });
      apps.push(app);
      register(app);
      out.push(app);
    }
    for (const app of out) await app.start();
    return out;
  }

  it('rate limit and global concurrency hold across the apps', async () => {
    const starts: number[] = [];
    const pairStarts: number[] = [];
    const pairEnds: number[] = [];
    const [a] = await three((app) => {
      app.task({ name: 'limited', rateLimit: { max: 10, perMs: 500 } }, async (n: number) => {
        starts.push(Date.now());
        return n;
      });
      app.task({ name: 'pair', globalConcurrency: 2 }, async (n: number) => {
        pairStarts.push(Date.now());
        await sleep(60);
        pairEnds.push(Date.now());
        return n;
      });
    });
    const records = await a!.addTasks([
      ...Array.from({ length: 30 }, (_, i) => ({ name: 'limited', args: [i] })),
      ...Array.from({ length: 12 }, (_, i) => ({ name: 'pair', args: [i] })),
    ]);
    await Promise.all(records.map((r) => a!.wait(r.id, 15_000)));
    expect(starts).toHaveLength(30);
    expect(maxInWindow(starts, 500)).toBeLessThanOrEqual(10);
    expect(pairStarts).toHaveLength(12);
    expect(maxOverlap(pairStarts, pairEnds)).toBe(2);
  }, 30_000);

  it('queue limits hold for every task of the queue together, beside a task limit of their own', async () => {
    const starts: number[] = [];
    const pairStarts: number[] = [];
    const pairEnds: number[] = [];
    const ownStarts: number[] = [];
    const [a] = await three((app) => {
      app.queue('metered', { rateLimit: { max: 10, perMs: 500 } }).queue('narrow', { globalConcurrency: 2 });
      for (const name of ['qa', 'qb']) {
        app.task({ name, queue: 'metered' }, async (n: number) => {
          starts.push(Date.now());
          return n;
        });
      }
      for (const name of ['pa', 'pb']) {
        app.task({ name, queue: 'narrow' }, async (n: number) => {
          pairStarts.push(Date.now());
          await sleep(60);
          pairEnds.push(Date.now());
          return n;
        });
      }
      // its own limit (3 per 500 ms) and its queue's (2 at once) both hold
      app.task({ name: 'own', queue: 'narrow', rateLimit: { max: 3, perMs: 500 } }, async (n: number) => {
        ownStarts.push(Date.now());
        pairStarts.push(Date.now());
        await sleep(60);
        pairEnds.push(Date.now());
        return n;
      });
    });
    const records = await a!.addTasks([
      ...Array.from({ length: 30 }, (_, i) => ({ name: i % 2 === 0 ? 'qa' : 'qb', args: [i] })),
      ...Array.from({ length: 12 }, (_, i) => ({ name: i % 2 === 0 ? 'pa' : 'pb', args: [i] })),
      ...Array.from({ length: 6 }, (_, i) => ({ name: 'own', args: [i] })),
    ]);
    await Promise.all(records.map((r) => a!.wait(r.id, 15_000)));
    expect(starts).toHaveLength(30);
    expect(maxInWindow(starts, 500)).toBeLessThanOrEqual(10);
    expect(pairStarts).toHaveLength(18);
    expect(maxOverlap(pairStarts, pairEnds)).toBe(2);
    expect(maxInWindow(ownStarts, 500)).toBeLessThanOrEqual(3);
  }, 30_000);

  it('a task held for a slot and cancelled meanwhile ends cancel without running, however long it waited', async () => {
    const started: number[] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    const [a] = await three((app) => {
      app.task({ name: 'solo', globalConcurrency: 1 }, async (n: number) => {
        started.push(n);
        if (n === 0) await first;
        return n;
      });
    });
    const holder = await a!.addTask('solo', [0]);
    await waitUntil(() => started.includes(0), 'the first run holds the only slot');
    const waiting = await a!.addTask('solo', [1]);
    // delivered and held at the gate: its record says process
    await waitUntil(async () => (await a!.get(waiting.id))?.status === 'process', 'the second delivery held for the slot');
    await sleep(5_200); // longer than a cancel heard before its delivery is remembered
    expect(await a!.cancel(waiting.id, 'not needed')).toBe('running');
    expect(await a!.wait(waiting.id, 5_000)).toMatchObject({ status: 'cancel', reason: 'not needed' });
    release();
    expect((await a!.wait(holder.id, 5_000)).status).toBe('success');
    await sleep(200);
    expect(started).toEqual([0]);
  }, 30_000);

  it('per-key limits: each key has its own window', async () => {
    const byKey = new Map<string, number[]>();
    const [a] = await three((app) => {
      app.task({ name: 'perCustomer', rateLimit: { max: 3, perMs: 400, key: (customer: string) => customer } }, async (customer: string) => {
        byKey.set(customer, [...(byKey.get(customer) ?? []), Date.now()]);
      });
    });
    const records = await a!.addTasks(['x', 'y'].flatMap((c) => Array.from({ length: 6 }, () => ({ name: 'perCustomer', args: [c] }))));
    await Promise.all(records.map((r) => a!.wait(r.id, 15_000)));
    for (const c of ['x', 'y']) {
      expect(byKey.get(c)).toHaveLength(6);
      expect(maxInWindow(byKey.get(c)!, 400)).toBeLessThanOrEqual(3);
    }
    // the keys do not share one limit: both ran their first three at once
    expect(maxInWindow([...byKey.get('x')!, ...byKey.get('y')!], 400)).toBeGreaterThan(3);
  }, 30_000);

  it('RateLimitError puts the task back after retryAfterMs without spending an attempt', async () => {
    let calls = 0;
    const at: number[] = [];
    const [a] = await three((app) => {
      app.task({ name: 'api', retry: 0 }, async () => {
        at.push(Date.now());
        if (++calls <= 2) throw new RateLimitError(150);
        return 'ok';
      });
    });
    const record = await a!.addTask('api', []);
    const final = await a!.wait(record.id, 10_000);
    expect(final.status).toBe('success');
    expect(final.attempts).toBe(1);
    expect(calls).toBe(3);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(140);
  }, 30_000);
});

describe('limits need app-wide counters', () => {
  it('a task with rateLimit fails the start clearly when the global config keeps no counters', async () => {
    const name = uniqueName('flow-nolimiter');
    const app = new QueueTasks({ name, plugins: [rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:5672', prefix: 'qtasks-test' })], config: BASE, globals: false, sharedTasks: false });
    app.task({ name: 'limited', rateLimit: { max: 1, perMs: 1_000 } }, () => 1);
    const err = await app.start().catch((e: unknown) => e);
    await app.stop().catch(() => undefined);
    expect(err).toBeInstanceOf(QTasksError);
    expect(String((err as Error).message)).toMatch(/rateLimit or globalConcurrency/);
  });

  it('queue limits fail the start clearly when the global config keeps no counters', async () => {
    const name = uniqueName('flow-nolimiter');
    const app = new QueueTasks({ name, plugins: [rabbitmq({ url: 'amqp://guest:guest@127.0.0.1:5672', prefix: 'qtasks-test' })], config: BASE, globals: false, sharedTasks: false });
    app.queue('metered', { globalConcurrency: 1 });
    app.task({ name: 'plain', queue: 'metered' }, () => 1);
    const err = await app.start().catch((e: unknown) => e);
    await app.stop().catch(() => undefined);
    expect(err).toBeInstanceOf(QTasksError);
    expect(String((err as Error).message)).toMatch(/queue "metered" has rateLimit or globalConcurrency/);
  });

  it('types: app.queue chains; its options are typed', () => {
    const app = new QueueTasks({ name: uniqueName('flow-types'), config: BASE, globals: false, sharedTasks: false });
    expectTypeOf(app.queue('q', { rateLimit: { max: 1, perMs: 1_000, key: (customer: string) => customer } })).toEqualTypeOf<QueueTasks>();
    expect(() =>
      // @ts-expect-error globalConcurrency is a number
      app.queue('q', { globalConcurrency: '2' }),
    ).toThrow(/globalConcurrency/);
    expect(() =>
      // @ts-expect-error a rate limit needs perMs
      app.queue('q', { rateLimit: { max: 1 } }),
    ).toThrow(/perMs/);
  });

  it('types: a broker says it holds queue limits in its claim; consume receives them per queue', () => {
    expectTypeOf<Broker['claimLimits']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<ConsumeOptions['limits']>().toEqualTypeOf<ReadonlyMap<string, QueueClaimLimits> | undefined>();
    expectTypeOf<QueueClaimLimits>().toEqualTypeOf<{ readonly globalConcurrency?: number; readonly rate?: { readonly max: number; readonly perMs: number } }>();
  });

  it('splitQueueLimits: the claim gets unkeyed limits of consumed queues, the gate keyed ones (or all, without claimLimits)', () => {
    const key = (c: string): string => c;
    const queues = new Map<string, QueueOptions>([
      ['a', { rateLimit: { max: 5, perMs: 1_000 }, globalConcurrency: 2 }],
      ['b', { rateLimit: { max: 3, perMs: 500, key }, globalConcurrency: 1 }],
      ['c', { globalConcurrency: 4 }],
    ]);
    const split = splitQueueLimits(queues, true, ['a', 'b']);
    expect([...split.claim!]).toEqual([
      ['a', { globalConcurrency: 2, rate: { max: 5, perMs: 1_000 } }],
      ['b', { globalConcurrency: 1 }],
    ]);
    expect([...split.gate!]).toEqual([['b', { rateLimit: { max: 3, perMs: 500, key } }]]);
    expect(splitQueueLimits(queues, false, ['a'])).toEqual({ claim: undefined, gate: queues });
    expect(splitQueueLimits(undefined, true, ['a'])).toEqual({ claim: undefined, gate: undefined });
  });

  it('bad queue limits are INVALID_OPTION; limits after start are refused', async () => {
    const app = new QueueTasks({ name: uniqueName('flow-input'), config: BASE, globals: false, sharedTasks: false });
    expect(() => app.queue('q', { rateLimit: { max: 0, perMs: 1_000 } })).toThrow(/queue "q": rateLimit.max/);
    expect(() => app.queue('q', { globalConcurrency: 1.5 })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_OPTION }));
    expect(() => app.queue('q', { concurrency: 2 } as never)).toThrow(/unknown option "concurrency"/);
    expect(() => app.queue('', { globalConcurrency: 1 })).toThrow(/non-empty/);
    await app.start({ worker: false });
    expect(() => app.queue('q', { globalConcurrency: 1 })).toThrow(expect.objectContaining({ code: ErrorCodes.ALREADY_STARTED }));
    await app.stop();
  });

  it('bad limits are INVALID_OPTION at registration', () => {
    const app = new QueueTasks({ name: uniqueName('flow-input'), config: BASE, globals: false, sharedTasks: false });
    expect(() => app.task({ name: 'a', rateLimit: { max: 0, perMs: 1_000 } }, () => 1)).toThrow(/rateLimit.max/);
    expect(() => app.task({ name: 'b', rateLimit: { max: 1, perMs: 1_000, window: 3 } as never }, () => 1)).toThrow(/unknown option "window"/);
    expect(() => app.task({ name: 'c', globalConcurrency: 0 }, () => 1)).toThrow(/globalConcurrency/);
    try {
      app.task({ name: 'd', globalConcurrency: 1.5 }, () => 1);
    } catch (err) {
      expect((err as QTasksError).code).toBe(ErrorCodes.INVALID_OPTION);
    }
  });
});
