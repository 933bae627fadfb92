/**
 * "Resize these images, then zip them" as a workflow: a chord of resizes whose callback zips,
 * chained with a notification. The workers run it; the caller may exit once it is sent.
 * See test/workflow/example.test.ts, which runs it on memory and Redis.
 */
import { QueueTasks, chain, chord, group, type Plugin } from '../core/index.js';

export function createImagesApp(name: string, plugins: Plugin[] = []) {
  const app = new QueueTasks({ name, plugins, config: { logLevel: 'silent' }, globals: false });
  const resize = app.task('resize', (url: string, width: number) => `${url.replace(/\.png$/, '')}-${width}.png`);
  const zip = app.task('zip', (files: string[]) => ({ archive: 'thumbs.zip', files: files.length }));
  const notify = app.task('notify', (archive: { archive: string; files: number }) => `sent ${archive.archive} (${archive.files} files)`);
  return {
    app,
    /** Resize every image in parallel, then zip them all, once. */
    thumbnails: (urls: readonly string[]) => chord(group(urls.map((url) => resize.with([url, 200]))), zip),
    /** Zip a known list, then notify: a chain. */
    zipThenNotify: (files: string[]) => chain(zip.with([files]), notify),
  };
}
