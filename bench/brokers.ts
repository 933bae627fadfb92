/**
 * The brokers `npm run bench -- --broker NAME` knows. Each entry builds the plugins for one app
 * name (producer and worker apps of a run share that name) and may report server-side costs.
 */
import type { Plugin } from '../core/plugin.js';
import { MemoryBackend, memory } from '../plugins/memory/index.js';
import { deleteAppKeys, redis } from '../plugins/redis/index.js';
import { Keys } from '../plugins/redis/keys.js';

export interface BenchTarget {
  /** Plugins for an app; apps of one run share `appName`. */
  plugins(appName: string): Plugin[];
  /** Server-side counters read before and after the run; the bench reports the difference per task. */
  counters?(): Promise<Record<string, number>>;
  /** Removes what the run left on the server. */
  cleanup?(appName: string): Promise<void>;
  close?(): Promise<void>;
  /**
   * The process clock starts once the worker app is connected (its `lifecycle.start`), not at
   * `start()`: the peer connects before its clock starts (raw amqplib), so ours does too.
   */
  clockAfterConnect?: boolean;
  /** Redis: the server's used_memory (INFO memory). */
  usedMemory?(): Promise<number>;
  /** Redis: the bytes of the app's keys (MEMORY USAGE of each, SAMPLES 0: exact). */
  keyBytes?(appName: string): Promise<number>;
}

/** Commands the plugin's scripts call; their own commandstats lines repeat time already in EVALSHA. */
const LUA_INNER = new Set(['get', 'set', 'mget', 'mset', 'del', 'pexpire', 'pttl', 'incr', 'time', 'publish', 'lpush', 'ltrim',
  'zadd', 'zrem', 'zpopmin', 'zrange', 'zrangebyscore', 'zcard', 'zcount', 'zscore', 'zmscore', 'zremrangebyscore', 'setrange', 'rename']);
/** A MULTI's EXEC line repeats the time of the commands it ran (each counted on its own line). */
const TRANSACTION = new Set(['multi', 'exec']);

export const benchTargets: Record<string, () => Promise<BenchTarget>> = {
  memory: async () => {
    const backends = new Map<string, MemoryBackend>();
    return {
      plugins: (name) => {
        let backend = backends.get(name);
        if (backend === undefined) backends.set(name, (backend = new MemoryBackend()));
        return [memory({ backend })];
      },
    };
  },
  // RabbitMQ alone: the reply-to storage is the app's storage (no waiter: a local map write per
  // save; the latency phase awaits results over direct reply-to). Drivers load only when chosen.
  rabbitmq: async () => {
    const { rabbitmq } = await import('../plugins/rabbitmq/index.js');
    const { default: amqp } = await import('amqplib');
    const url = process.env.QTASKS_BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
    // QTASKS_BENCH_RMQ_MAX_PRIORITY=0 measures a plain classic queue (no x-max-priority).
    const maxPriority = process.env.QTASKS_BENCH_RMQ_MAX_PRIORITY === undefined ? undefined : Number(process.env.QTASKS_BENCH_RMQ_MAX_PRIORITY);
    const made = new Map<string, Array<ReturnType<typeof rabbitmq>>>();
    return {
      clockAfterConnect: true,
      plugins: (name) => {
        const plugin = rabbitmq({ url, prefix: 'qtasks-bench', ...(maxPriority !== undefined ? { maxPriority } : {}) });
        made.set(name, [...(made.get(name) ?? []), plugin]);
        return [plugin];
      },
      cleanup: async (name) => {
        const conn = await amqp.connect(url);
        try {
          const ch = await conn.createChannel();
          for (const p of made.get(name) ?? []) {
            for (const q of p.declaredQueues()) await ch.deleteQueue(q);
            for (const x of p.declaredExchanges()) await ch.deleteExchange(x);
          }
          await ch.close();
        } finally {
          await conn.close();
        }
        made.delete(name);
      },
    };
  },
  redis: async () => {
    const { Redis } = await import('ioredis');
    const url = process.env.QTASKS_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const admin = new Redis(url, { lazyConnect: true });
    await admin.connect();
    return {
      plugins: () => [redis({ url })],
      // The server is shared, so other clients' commands during the run count too.
      counters: async () => {
        const stats = await admin.info('commandstats');
        const cpu = await admin.info('cpu');
        let usec = 0;
        let lua = 0;
        for (const m of stats.matchAll(/cmdstat_([a-z|]+):calls=\d+,usec=(\d+)/g)) {
          const [, cmd, us] = m;
          // Commands run inside scripts are counted twice (in the script and on their own line).
          if (cmd === 'evalsha' || cmd === 'eval') lua += Number(us);
          else if (!LUA_INNER.has(cmd!) && !TRANSACTION.has(cmd!)) usec += Number(us);
        }
        const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0);
        const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
        return { redis_usec: usec + lua, redis_lua_usec: lua, redis_cpu_usec: Math.round((user + sys) * 1e6) };
      },
      cleanup: async (appName) => void (await deleteAppKeys(admin, appName)),
      usedMemory: async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? 0),
      keyBytes: async (appName) => {
        let sum = 0;
        let cursor = '0';
        do {
          const [next, keys] = await admin.scan(cursor, 'MATCH', new Keys('qtasks', appName).pattern, 'COUNT', 1000);
          cursor = next;
          for (const key of keys) sum += Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
        } while (cursor !== '0');
        return sum;
      },
      close: async () => void (await admin.quit()),
    };
  },
};
