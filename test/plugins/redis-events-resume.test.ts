/**
 * Redis events resume from a position: after the listener's connection is killed (a real
 * disconnect, CLIENT KILL) it reads on from the last event it saw, so events of tasks run in a
 * child process arrive exactly once; a listener started from a position replays what came after
 * it, and one whose position fell out of the capped stream is told (onGap) and reads on from the
 * oldest entry kept.
 */
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { EventGap, TaskEvent } from '../../core/contracts.js';
import { ErrorCodes } from '../../core/errors.js';
import { memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName, waitUntil } from '../contracts/helpers.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { REDIS_URL, adminClient, appConnections, deleteAppKeys } from './redis-helpers.js';
import { type Child, startControlWorker } from './control-worker-process.js';


describe('redis events resume from a position', () => {
  let admin: Redis;
  const apps: QueueTasks[] = [];
  const names: string[] = [];
  const children: Child[] = [];

  beforeAll(async () => {
    admin = await adminClient();
  });
  afterEach(async () => {
    for (const { proc, exited } of children.splice(0)) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    }
    await Promise.allSettled(apps.splice(0).map((a) => a.stop()));
    await deleteAppKeys(admin, names.splice(0));
  });
  afterAll(async () => {
    await admin?.quit();
  });

  async function producer(setup?: (app: QueueTasks) => void): Promise<{ name: string; app: QueueTasks }> {
    const name = uniqueName('resume');
    names.push(name);
    const app = new QueueTasks({ name, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(app);
    setup?.(app);
    await app.start({ worker: false });
    return { name, app };
  }

  function worker(name: string): Promise<void> {
    const child = startControlWorker({ QT_APP: name, QT_REDIS_URL: REDIS_URL });
    children.push(child);
    return child.ready;
  }

  async function killEvents(name: string): Promise<number> {
    const events = async (): Promise<Array<{ id: string }>> => (await appConnections(admin, name)).filter((c) => c.name === `qtasks:${name}:events`);
    const conns = await events();
    for (const c of conns) await admin.client('KILL', 'ID', c.id);
    // back (a new connection) before the test goes on, so the next kill finds it
    await waitUntil(async () => (await events()).some((c) => !conns.some((k) => k.id === c.id)), 'the events connection back');
    return conns.length;
  }

  it('reads on from the last event after its connection is killed: every event of a child-run task exactly once', async () => {
    const { name, app } = await producer();
    const seen: TaskEvent[] = [];
    app.events.on('*', (e) => void seen.push(e));
    await app.events.ready();
    await worker(name);
    const ids: string[] = [];
    let killed = 0;
    for (let i = 0; i < 60; i++) {
      ids.push((await app.addTask('quick', [i])).id);
      // killed while tasks run in the child: their events are appended while the listener is away
      if (i === 20 || i === 40) killed += await killEvents(name);
    }
    expect(killed).toBe(2);
    await waitUntil(() => ids.every((id) => seen.some((e) => e.id === id && e.type === 'completed')), 'every completed event', 20_000);
    for (const id of ids) expect(seen.filter((e) => e.id === id).map((e) => e.type)).toEqual(['added', 'active', 'completed']);
    const positions = seen.map((e) => e.position!);
    expect([...positions].sort(byPosition)).toEqual(positions);
  });

  it('a listener from a position that fell out of the cap is told, then reads on from the oldest entry kept', async () => {
    const { app } = await producer();
    const t = { addTask: (args: [number]) => app.addTask('quick', args) };
    const first: TaskEvent[] = [];
    const off = app.events.on('added', (e) => void first.push(e));
    await app.events.ready();
    const a = await t.addTask([0]);
    await waitUntil(() => first.length > 0, 'the first event');
    off();
    const position = first.find((e) => e.id === a.id)!.position!;
    // one stream entry per script call (adds of one turn share one): 1,500 trim the oldest past the ~1,000 kept
    let last = a;
    for (let i = 0; i < 1_500; i++) last = await t.addTask([i]);
    const gaps: EventGap[] = [];
    const resumed: TaskEvent[] = [];
    app.events.on('added', (e) => void resumed.push(e), { from: position, onGap: (g) => void gaps.push(g) });
    await app.events.ready();
    await waitUntil(() => resumed.some((e) => e.id === last.id), 'the kept entries replayed', 20_000);
    expect(resumed.length).toBeGreaterThanOrEqual(1_000);
    expect(resumed.length).toBeLessThan(1_500);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.after).toBe(position);
    expect(resumed[0]!.position).toBe(gaps[0]!.oldest);
    expect(resumed.some((e) => e.id === a.id)).toBe(false);
    // a position still in the stream: no gap
    const from = resumed[resumed.length - 10]!.position!;
    const tail: TaskEvent[] = [];
    const noGap: EventGap[] = [];
    app.events.on('added', (e) => void tail.push(e), { from, onGap: (g) => void noGap.push(g) });
    await app.events.ready();
    await waitUntil(() => tail.length >= 9, 'the tail replayed');
    expect(tail.map((e) => e.id)).toEqual(resumed.slice(-9).map((e) => e.id));
    expect(noGap).toEqual([]);
  });

  it('a listener away longer than the cap holds is told of the gap when its connection comes back', async () => {
    const proxy = await HoldingProxy.start(Number(new URL(REDIS_URL).port || 6379));
    try {
      const { name, app } = await producer();
      const listener = new QueueTasks({ name, plugins: [redis({ url: `redis://127.0.0.1:${proxy.port}` })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
      apps.push(listener);
      await listener.start({ worker: false });
      const seen: TaskEvent[] = [];
      const gaps: EventGap[] = [];
      listener.events.on('added', (e) => void seen.push(e), { onGap: (g) => void gaps.push(g) });
      await listener.events.ready();
      const first = await app.addTask('quick', [0]);
      await waitUntil(() => seen.some((e) => e.id === first.id), 'the first event');
      // the listener's read is answered by the server, the answer held: it hears nothing more
      proxy.hold(`qtasks:${name}:events`);
      let last = first;
      for (let i = 1; i <= 1_500; i++) last = await app.addTask('quick', [i]);
      proxy.drop(); // the connection is lost with the answer; ioredis reconnects
      await waitUntil(() => seen.some((e) => e.id === last.id), 'the newest event after the reconnect', 20_000);
      expect(gaps).toHaveLength(1);
      expect(gaps[0]!.after).toBe(seen[0]!.position);
      expect(seen.length).toBeLessThan(1_501);
      expect(seen[1]!.position).toBe(gaps[0]!.oldest);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a position that is not one, and a position on a broker that cannot replay', async () => {
    const { app } = await producer();
    app.events.on('*', () => undefined, { from: 'yesterday' });
    await expect(app.events.ready()).rejects.toMatchObject({ code: ErrorCodes.INVALID_OPTION });
    await app.events.ready(); // the refused listener is gone: the next call resolves
    const mem = new QueueTasks({ name: uniqueName('mem'), plugins: [memory()], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    apps.push(mem);
    await mem.start({ worker: false });
    expect(() => mem.events.on('*', () => undefined, { from: '1-0' })).toThrow(expect.objectContaining({ code: ErrorCodes.UNSUPPORTED, message: expect.stringContaining('replay') }));
  });
});

function byPosition(a: string, b: string): number {
  const [at, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bt, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return at !== bt ? (at < bt ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0;
}
