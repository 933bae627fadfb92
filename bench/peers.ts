/**
 * Runs the peer scripts from ../shared/bench (BullMQ, bee-queue, raw amqplib) in a scratch copy,
 * installing their dependencies there: shared/ is read-only, and the peers must not become our
 * dependencies. Each script prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
// dist/bench -> repo root -> ../shared/bench
const shared = resolve(here, '..', '..', '..', 'shared', 'bench');
const scratch = resolve(here, '..', '..', '.bench-tmp');

const PEERS: Record<string, string[]> = {
  memory: [],
  redis: ['bullmq.mjs', 'beequeue.mjs'],
  rabbitmq: ['amqp.mjs'],
};

export async function runPeers(broker: string, jobs: number, concurrency: number): Promise<Array<Record<string, unknown>>> {
  const scripts = PEERS[broker] ?? [];
  if (scripts.length === 0) return [];
  if (!existsSync(shared)) throw new Error(`peer scripts not found at ${shared}`);
  if (!existsSync(join(scratch, 'node_modules'))) {
    mkdirSync(scratch, { recursive: true });
    cpSync(shared, scratch, { recursive: true });
    execFileSync('npm', ['install', '--silent', '--no-audit', '--no-fund'], { cwd: scratch, stdio: 'inherit' });
  }
  const out: Array<Record<string, unknown>> = [];
  for (const script of scripts) {
    const text = execFileSync('node', [join(scratch, script), String(jobs), String(concurrency)], { cwd: scratch, encoding: 'utf8' });
    const last = text.trim().split('\n').pop() ?? '{}';
    out.push(JSON.parse(last) as Record<string, unknown>);
  }
  return out;
}
