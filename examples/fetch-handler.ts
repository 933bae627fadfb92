/**
 * qtasks behind a fetch-style handler, `(request: Request) => Promise<Response>`: the shape Hono,
 * Bun, Deno and edge runtimes serve. With Hono it is
 * `app.post('/add', (c) => handler(c.req.raw))` (or mount it with `app.mount('/', handler)`);
 * nothing here imports Hono. Lifecycle as with any host: `start()` before serving, `stop()`
 * after the server stopped accepting requests.
 */
import { QueueTasks, WaitTimeoutError, type Plugin } from '../core/index.js';

export interface FetchExample {
  queue: QueueTasks;
  handler: (request: Request) => Promise<Response>;
}

export function createFetchExample(plugins: readonly Plugin[] = [], waitMs = 5_000): FetchExample {
  const queue = new QueueTasks({ name: 'fetch-example', globals: false, plugins });
  const add = queue.task('add', (a: number, b: number) => a + b);

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (request.method !== 'POST' || url.pathname !== '/add') return Response.json({ error: 'not found' }, { status: 404 });
    const body = (await request.json().catch(() => undefined)) as { a?: unknown; b?: unknown } | undefined;
    if (typeof body?.a !== 'number' || typeof body.b !== 'number') return Response.json({ error: 'body must be { a: number, b: number }' }, { status: 400 });
    try {
      const record = await add.addTask([body.a, body.b], { timeout: waitMs });
      return Response.json({ id: record.id, status: record.status, result: record.returning });
    } catch (err) {
      if (err instanceof WaitTimeoutError) return Response.json({ id: err.taskId, status: 'pending' }, { status: 202 });
      throw err;
    }
  };
  return { queue, handler };
}
