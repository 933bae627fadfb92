/**
 * Recipe "a web app that only produces, plus a separate worker process": this module declares
 * the app and its tasks once; both processes import it.
 *
 * - The web process (examples/split-web.ts) starts it with `{ worker: false }`: it enqueues and
 *   reads results, and never runs a task.
 * - The worker process is the CLI: `qtasks run -A examples/split-app.ts:app` (scale it by
 *   starting more of them).
 *
 * Both reach the same Redis under the same app name, which is all they share.
 */
import { QueueTasks } from '../core/index.js';
import { redis } from '../plugins/redis/index.js';

export function createApp(name: string, redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'): { app: QueueTasks; thumbnail: ReturnType<typeof declareThumbnail> } {
  // globals: false — nothing here relies on appMain, and a web framework may load this module.
  const app = new QueueTasks({ name, globals: false, plugins: [redis({ url: redisUrl })] });
  return { app, thumbnail: declareThumbnail(app) };
}

function declareThumbnail(app: QueueTasks) {
  return app.task({ name: 'thumbnail', retry: 2 }, async (url: string, width: number) => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the expensive part
    return { url, width, pid: process.pid };
  });
}

export const { app, thumbnail } = createApp(process.env.SPLIT_APP_NAME ?? 'split-example');
