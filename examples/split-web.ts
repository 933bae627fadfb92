/**
 * The web half of the split recipe (see examples/split-app.ts): a plain node:http server that
 * enqueues and answers 202 with the task id, and a status route that reads the record. It starts
 * the app as a producer only; the tasks run in `qtasks run -A examples/split-app.ts:app`.
 * Run both: `node_modules/.bin/qtasks run -A examples/split-app.ts:app` and `npx tsx examples/split-web.ts`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { QueueTasks, TaskHandle } from '../core/index.js';

export interface SplitWeb {
  url: string;
  close(): Promise<void>;
}

type Thumbnail = TaskHandle<[url: string, width: number], Promise<{ url: string; width: number; pid: number }>>;

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export async function startWeb(app: QueueTasks, thumbnail: Thumbnail, port = 3000): Promise<SplitWeb> {
  await app.start({ worker: false }); // a producer: connects, never consumes
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method === 'POST' && req.url === '/thumbnails') {
        const body = (await readJson(req)) as { url?: unknown; width?: unknown } | undefined;
        if (typeof body?.url !== 'string' || typeof body.width !== 'number') return send(res, 400, { error: 'body must be { url: string, width: number }' });
        const record = await thumbnail.addTask([body.url, body.width]);
        return send(res, 202, { id: record.id });
      }
      const match = /^\/thumbnails\/([\w-]+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && match !== null) {
        const record = await app.get(match[1]!);
        if (record === undefined) return send(res, 404, { error: 'unknown task' });
        return send(res, 200, { status: record.status, result: record.returning });
      }
      send(res, 404, { error: 'not found' });
    })().catch((err: unknown) => send(res, 500, { error: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await app.stop(); // after the server: no request enqueues into a stopped app
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { app, thumbnail } = await import('./split-app.js');
  const web = await startWeb(app, thumbnail, Number(process.env.PORT ?? 3000));
  console.log(`listening on ${web.url}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void web.close().then(() => process.exit(0)));
}
