/**
 * The cross-process control tests' worker: test/fixtures/control-worker.ts in a child process.
 * `lines` collects what it prints (`start <id>`, `aborted <id>`); `ready` resolves once it consumes.
 */
import { fileURLToPath } from 'node:url';
import { startChild, type Child } from '../support/child.js';

export type { Child };

const FIXTURE = fileURLToPath(new URL('../fixtures/control-worker.ts', import.meta.url));

/** `env`: QT_APP and QT_REDIS_URL, plus QT_AMQP_URL and QT_PREFIX for RabbitMQ with Redis storage. */
export function startControlWorker(env: Record<string, string>): Child {
  return startChild(FIXTURE, env);
}
