/**
 * qtasks embedded in Express: the host creates its pino logger and hands it to qtasks, the worker
 * starts before the server accepts requests and stops after the server closed (on SIGINT/SIGTERM
 * when run directly), and a route enqueues a task and awaits its result. Run:
 * `npx tsx examples/express.ts`, then
 * `curl -s -XPOST 127.0.0.1:3000/add -H 'content-type: application/json' -d '{"a":2,"b":3}'`.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { pino as createPino, type Logger } from 'pino';
import { QueueTasks, WaitTimeoutError, type TaskContext } from '../core/index.js';
import { pino } from '../plugins/pino/index.js';

/** Where shutdown signals come from: `process` when run directly, an EventEmitter in tests. */
export interface SignalSource {
  once(signal: NodeJS.Signals, listener: () => void): unknown;
  removeListener(signal: NodeJS.Signals, listener: () => void): unknown;
}

export interface ExpressExampleOptions {
  /** The host's pino logger. Default: a new one at `info` on stdout. */
  logger?: Logger;
  /** 0 picks a free port. Always bound to loopback here. */
  port?: number;
  /** Close the server and stop the queue when one of these arrives. Default: none. */
  signals?: { source: SignalSource; names: readonly NodeJS.Signals[] };
  waitMs?: number;
}

export interface ExpressExample {
  url: string;
  queue: QueueTasks;
  /** Stops accepting requests, lets in-flight ones finish, then drains and stops the queue. Idempotent. */
  close(): Promise<void>;
  /** Settles once close() finished (called directly or by a signal). */
  closed: Promise<void>;
}

export async function startServer(options: ExpressExampleOptions = {}): Promise<ExpressExample> {
  const log = options.logger ?? createPino({ level: 'info' });
  const queue = new QueueTasks({ name: 'express-example', globals: false, plugins: [pino({ logger: log })] });

  const add = queue.task({ name: 'add', echo: true }, (ctx: TaskContext, a: number, b: number) => {
    ctx.logger.info({ a, b }, 'adding');
    return a + b;
  });

  const app = express();
  app.use(express.json());
  // The host's request logging: a child per request (what pino-http would do, in three lines).
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.log = log.child({ reqId: randomUUID() });
    (res.locals.log as Logger).info({ method: req.method, url: req.url }, 'request');
    next();
  });

  const waitMs = options.waitMs ?? 5_000;
  app.post('/add', async (req: Request, res: Response) => {
    const { a, b } = (req.body ?? {}) as { a?: unknown; b?: unknown };
    if (typeof a !== 'number' || typeof b !== 'number') {
      res.status(400).json({ error: 'body must be { a: number, b: number }' });
      return;
    }
    try {
      const record = await add.addTask([a, b], { timeout: waitMs });
      (res.locals.log as Logger).info({ taskId: record.id, status: record.status }, 'task finished');
      if (record.status !== 'success') {
        res.status(500).json({ id: record.id, status: record.status });
        return;
      }
      res.json({ id: record.id, status: record.status, result: record.returning });
    } catch (err) {
      if (err instanceof WaitTimeoutError) {
        res.status(504).json({ id: err.taskId, status: 'pending' });
        return;
      }
      throw err; // Express 5 passes a rejected handler to its error handler.
    }
  });

  // Worker first: the first request must find it running.
  await queue.start();
  const server = app.listen(options.port ?? 3000, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (err) {
    await queue.stop();
    throw err;
  }
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const onSignal = (): void => void close();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const name of options.signals?.names ?? []) options.signals!.source.removeListener(name, onSignal);
      // HTTP first, so no new task is enqueued into a stopping queue; idle keep-alive sockets
      // would hold close() open, so they go now and busy ones finish their request.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await queue.stop();
      log.info({ app: queue.name }, 'server and queue stopped');
      markClosed();
    })();
    return closing;
  };
  for (const name of options.signals?.names ?? []) options.signals!.source.once(name, onSignal);

  log.info({ port }, 'listening');
  return { url: `http://127.0.0.1:${port}`, queue, close, closed };
}

// Run directly, not when imported by the tests.
if (import.meta.url === `file://${process.argv[1]}`) {
  startServer({ port: Number(process.env.PORT ?? 3000), signals: { source: process, names: ['SIGINT', 'SIGTERM'] } }).then(
    ({ closed }) => closed.then(() => process.exit(0)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
