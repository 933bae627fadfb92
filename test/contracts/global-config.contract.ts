/**
 * The GlobalConfig conformance suite: heartbeats, the worker registry, liveness and the shared
 * key-value store, called directly. Call `globalConfigConformance(target)` inside a vitest file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../core/config.js';
import type { ComponentContext, GlobalConfig, WorkerInfo } from '../../core/contracts.js';
import { Logger } from '../../core/logger.js';
import { sleep, uniqueName, waitUntil } from './helpers.js';

export interface GlobalConfigTarget {
  readonly name: string;
  /** A global config for app `appName`; ones made for the same name share their state. */
  create(appName: string): GlobalConfig;
  cleanup?(appNames: readonly string[]): Promise<void>;
}

function worker(id: string, app: string, patch: Partial<WorkerInfo> = {}): WorkerInfo {
  const now = Date.now();
  return { id, app, host: 'host-a', pid: 4242, queues: ['default', 'mail'], concurrency: 3, running: 1, tasks: ['a', 'b: with spaces'], startedAt: now - 1_000, lastHeartbeat: now, ...patch };
}

export function globalConfigConformance(target: GlobalConfigTarget): void {
  // What the optional parts offer decides which cases run (an unstarted instance only says so).
  const probe = target.create(uniqueName('probe'));
  const offers = { delete: typeof probe.delete === 'function', sets: probe.sets !== undefined };
  describe(`global config conformance: ${target.name}`, () => {
    const open: GlobalConfig[] = [];
    const names: string[] = [];

    async function make(appName = uniqueName('gc')): Promise<GlobalConfig> {
      if (!names.includes(appName)) names.push(appName);
      const gc = target.create(appName);
      const ctx: ComponentContext = { appName, config: { ...DEFAULT_CONFIG, logLevel: 'silent' }, logger: new Logger({ name: appName, level: 'silent' }) };
      await gc.start(ctx);
      open.push(gc);
      return gc;
    }

    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((g) => g.stop()));
      await target.cleanup?.(names.splice(0));
    });

    it('keeps a key-value store shared by instances of one app, not across apps', async () => {
      const app = uniqueName('gc');
      const [a, b, other] = [await make(app), await make(app), await make()];
      expect(await a.get('k')).toBeUndefined();
      await a.set('k', 'v: 1');
      expect(await b.get('k')).toBe('v: 1');
      expect(await other.get('k')).toBeUndefined();
    });

    it('lists each live worker as its last heartbeat described it, to every instance of the app', async () => {
      const app = uniqueName('gc');
      const [a, b, other] = [await make(app), await make(app), await make()];
      expect(await b.workers()).toEqual([]);
      expect(await b.alive()).toBe(false);
      const w1 = worker('w1', app);
      const w2 = worker('w2', app, { tasks: [], queues: ['x'], running: 0 });
      await a.heartbeat(w1, 60_000);
      await a.heartbeat(w2, 60_000);
      const seen = (await b.workers()).sort((x, y) => x.id.localeCompare(y.id));
      expect(seen).toEqual([w1, w2]);
      expect(await b.alive()).toBe(true);
      // A later heartbeat replaces what the worker said.
      const again = worker('w1', app, { running: 3, lastHeartbeat: w1.lastHeartbeat + 5 });
      await a.heartbeat(again, 60_000);
      expect((await b.workers()).find((w) => w.id === 'w1')).toEqual(again);
      expect(await other.workers()).toEqual([]);
      expect(await other.alive()).toBe(false);
    });

    it('forgets a worker whose heartbeat expired, and one that left', async () => {
      const app = uniqueName('gc');
      const gc = await make(app);
      await gc.heartbeat(worker('short', app), 300);
      await gc.heartbeat(worker('long', app), 60_000);
      await gc.heartbeat(worker('leaving', app), 60_000);
      expect((await gc.workers()).map((w) => w.id).sort()).toEqual(['leaving', 'long', 'short']);
      await gc.leave('leaving');
      await gc.leave('never-there');
      expect((await gc.workers()).map((w) => w.id).sort()).toEqual(['long', 'short']);
      await waitUntil(async () => (await gc.workers()).length === 1, 'the short heartbeat to expire', 5_000, 50);
      expect((await gc.workers())[0]!.id).toBe('long');
      await gc.leave('long');
      expect(await gc.alive()).toBe(false);
      await sleep(10);
      expect(await gc.workers()).toEqual([]);
    });

    if (offers.delete) {
      it('deletes a key for every instance of the app; deleting a missing key is fine', async () => {
        const app = uniqueName('gc');
        const [a, b] = [await make(app), await make(app)];
        await a.set('gone', 'v');
        await a.set('kept', 'v');
        await b.delete!('gone');
        await b.delete!('never-there');
        expect(await a.get('gone')).toBeUndefined();
        expect(await a.get('kept')).toBe('v');
      });
    }

    if (offers.sets) {
      it('keeps sets shared by instances of one app, apart from the keys; concurrent adds all land', async () => {
        const app = uniqueName('gc');
        const [a, b, other] = [await make(app), await make(app), await make()];
        expect(await a.sets!.members('ids')).toEqual([]);
        expect(await a.sets!.add('ids', 'x')).toBe(true);
        expect(await b.sets!.add('ids', 'x')).toBe(false);
        // many instances adding different members at the same moment: none is lost
        const members = Array.from({ length: 50 }, (_, i) => `m${i}: with spaces`);
        const adders = [a, b, await make(app), await make(app)];
        await Promise.all(members.map((m, i) => adders[i % adders.length]!.sets!.add('ids', m)));
        expect((await b.sets!.members('ids')).sort()).toEqual(['x', ...members].sort());
        expect(await a.sets!.remove('ids', 'x')).toBe(true);
        expect(await a.sets!.remove('ids', 'x')).toBe(false);
        expect(await b.sets!.members('ids')).not.toContain('x');
        expect(await a.get('ids')).toBeUndefined();
        expect(await other.sets!.members('ids')).toEqual([]);
      });
    }
  });
}
