/**
 * Recipe "one worker host serving several apps": two products, each its own app with its own
 * plugins, config and logger, run by one process. From the command line:
 *
 *   qtasks run -A examples/worker-host.ts:billing -A examples/worker-host.ts:search
 *
 * or from code, as `main()` below does with `runWorkers` from `qtasks/host`. Either way SIGTERM
 * drains both, and if one fails to start the other is stopped and the host exits non-zero.
 */
import { QueueTasks, type Plugin } from '../core/index.js';
import { runWorkers } from '../host/index.js';
import { pino } from '../plugins/pino/index.js';
import { rabbitmq } from '../plugins/rabbitmq/index.js';
import { redis } from '../plugins/redis/index.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Billing: on Redis, a few heavy tasks at a time, JSON logs of its own. */
export function billingApp(name = 'billing'): QueueTasks {
  const app = new QueueTasks({ name, globals: false, plugins: [redis({ url: REDIS_URL }), pino({ level: 'warn' })], config: { concurrency: 2 } });
  app.task('invoice', (customer: string, cents: number) => ({ customer, total: (cents / 100).toFixed(2) }));
  return app;
}

/** Search: RabbitMQ for the work, Redis for the results, many light tasks at a time. */
export function searchApp(name = 'search', broker: Plugin = rabbitmq({ url: AMQP_URL })): QueueTasks {
  const app = new QueueTasks({
    name,
    globals: false,
    plugins: [broker, redis({ url: REDIS_URL, broker: false })],
    config: { concurrency: 20, logLevel: 'warn' },
  });
  app.task('reindex', (ids: string[]) => ids.length);
  return app;
}

export const billing = billingApp();
export const search = searchApp();

export async function main(): Promise<void> {
  await runWorkers([billing, search], { onStarted: () => console.log(`pid ${process.pid}: billing and search running`) });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
