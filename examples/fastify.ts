/**
 * qtasks embedded in Fastify: the queue logs through Fastify's own pino logger (`server.log`),
 * starts when Fastify is ready and stops in its `onClose` hook, and a route enqueues a task and
 * awaits its result. Run: `npx tsx examples/fastify.ts`, then
 * `curl -s -XPOST 127.0.0.1:3000/add -H 'content-type: application/json' -d '{"a":2,"b":3}'`.
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { QueueTasks, WaitTimeoutError, type TaskContext } from '../core/index.js';
import { pino } from '../plugins/pino/index.js';

export interface FastifyExampleOptions {
  /** Fastify's logger option (the host decides level, stream, transport). Default `{ level: 'info' }`. */
  logger?: FastifyServerOptions['logger'];
  /** How long a request waits for its task, ms. */
  waitMs?: number;
}

export interface FastifyExample {
  server: FastifyInstance;
  queue: QueueTasks;
}

export function buildServer(options: FastifyExampleOptions = {}): FastifyExample {
  const server = Fastify({ logger: options.logger ?? { level: 'info' } });

  // globals: false — the host owns the process; qtasks sets no appMain or loggerMain.
  const queue = new QueueTasks({ name: 'fastify-example', globals: false, plugins: [pino({ logger: server.log })] });

  const add = queue.task({ name: 'add', echo: true }, (ctx: TaskContext, a: number, b: number) => {
    ctx.logger.info({ a, b }, 'adding');
    return a + b;
  });

  // The worker lives exactly as long as the server: up before the first request, down on close.
  server.addHook('onReady', async () => {
    await queue.start();
  });
  server.addHook('onClose', async () => {
    await queue.stop();
  });

  const waitMs = options.waitMs ?? 5_000;
  server.post<{ Body: { a: number; b: number } }>(
    '/add',
    {
      schema: {
        body: {
          type: 'object',
          required: ['a', 'b'],
          properties: { a: { type: 'number' }, b: { type: 'number' } },
        },
      },
    },
    async (request, reply) => {
      try {
        const record = await add.addTask([request.body.a, request.body.b], { timeout: waitMs });
        request.log.info({ taskId: record.id, status: record.status }, 'task finished');
        if (record.status !== 'success') return reply.code(500).send({ id: record.id, status: record.status });
        return { id: record.id, status: record.status, result: record.returning };
      } catch (err) {
        // The task keeps running; the caller can look it up by id later.
        if (err instanceof WaitTimeoutError) return reply.code(504).send({ id: err.taskId, status: 'pending' });
        throw err;
      }
    },
  );

  return { server, queue };
}

// Run directly, not when imported by the tests.
if (import.meta.url === `file://${process.argv[1]}`) {
  const { server } = buildServer();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      server.log.info({ signal }, 'closing');
      // close() runs onClose, which drains and stops the queue.
      server.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) }).catch((err: unknown) => {
    server.log.error(err);
    process.exit(1);
  });
}
