/**
 * A local Redis Cluster of three masters for tests and the `--cluster` bench: redis-server
 * processes on spare loopback ports (each with its bus port +10000 free too), joined with
 * `redis-cli --cluster create`, and torn down with their data directory.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const run = promisify(execFile);

export interface LocalCluster {
  readonly ports: readonly number[];
  /** A client for the test or bench (auto-pipelined, as a user's would often be). */
  readonly client: Cluster;
  /** Which master serves `key` (its port), from CLUSTER KEYSLOT and CLUSTER SLOTS. */
  masterOf(key: string): Promise<number>;
  stop(): Promise<void>;
}

/** A free loopback port whose cluster bus port (+10000) is free too. */
async function sparePort(taken: Set<number>): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await free(port)) && (await free(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error('no spare port pair found for the cluster');
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startLocalCluster(masters = 3): Promise<LocalCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'qtasks-cluster-'));
  const servers: ChildProcess[] = [];
  const ports: number[] = [];
  const taken = new Set<number>();
  const stop = async (client?: Cluster): Promise<void> => {
    client?.disconnect();
    for (const s of servers) s.kill('SIGKILL');
    await Promise.all(servers.map((s) => (s.exitCode !== null || s.signalCode !== null ? undefined : new Promise((r) => s.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) ports.push(await sparePort(taken));
    for (const port of ports) {
      servers.push(
        spawn(
          'redis-server',
          ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'no', '--dir', dir],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) {
      await until(async () => {
        const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => undefined); // not up yet: asked again
        try {
          await c.connect();
          return (await c.ping()) === 'PONG';
        } finally {
          c.disconnect();
        }
      }, `redis-server on ${port}`, 10_000);
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) {
      await until(async () => (await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).stdout.includes('cluster_state:ok'), `cluster state ok on ${port}`, 20_000);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const client = new Cluster([{ host: '127.0.0.1', port: ports[0]! }], { enableAutoPipelining: true });
  await until(async () => (await client.ping()) === 'PONG', 'the cluster client', 10_000);
  return {
    ports,
    client,
    async masterOf(key) {
      const slot = Number(await client.cluster('KEYSLOT', key));
      const ranges = await client.cluster('SLOTS');
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const master = range?.[2];
      if (master === undefined) throw new Error(`no master serves slot ${slot}`);
      return Number(master[1]);
    },
    stop: () => stop(client),
  };
}
