/**
 * The worker a crash test runs in a child process (started by `startWorkerProcess`). It loads the
 * plugins from the module and export the author named, runs the suite's tasks and reports on
 * stdout: `ready`, `start <id> <attempt>` when a handler starts (tasks: `work`, `fence`, `exit`,
 * `die-after-ack`), `settled <id> <status>` once an
 * outcome is stored. Env: QT_MODULE, QT_EXPORT, QT_APP, QT_CONFIG (JSON), QT_CONCURRENCY.
 */
import { pathToFileURL } from 'node:url';
import { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import type { Plugin } from '../../core/plugin.js';

const moduleRef = process.env.QT_MODULE!;
const loaded = (await import(moduleRef.startsWith('file:') ? moduleRef : pathToFileURL(moduleRef).href)) as Record<string, unknown>;
const factory = loaded[process.env.QT_EXPORT!];
if (typeof factory !== 'function') throw new Error(`${moduleRef} has no function export ${process.env.QT_EXPORT!}`);
const name = process.env.QT_APP!;
const config = JSON.parse(process.env.QT_CONFIG ?? '{}') as Partial<Config>;
const app = new QueueTasks({ name, plugins: (factory as (appName: string) => Plugin[])(name), config, globals: false, sharedTasks: false });
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** Runs `ms` on its first delivery (long: the test kills it), `againMs` on later ones. */
app.task({ name: 'work', echo: true }, async (ctx, ms: number, againMs: number = ms) => {
  say(`start ${ctx.id} ${ctx.attempt}`);
  await new Promise((resolve) => setTimeout(resolve, ctx.attempt === 1 ? ms : againMs));
  return ms;
});
/** The fencing test's task: the child's delivery returns at once. */
app.task({ name: 'fence', echo: true }, (ctx) => {
  say(`start ${ctx.id} ${ctx.attempt}`);
  return 'child';
});
/** Takes its worker down: exits `ms` after it starts (the crash-attribution test's poison task). */
app.task({ name: 'exit', echo: true }, (ctx, ms: number) => {
  say(`start ${ctx.id} ${ctx.attempt}`);
  setTimeout(() => process.exit(1), ms);
  return new Promise<never>(() => undefined);
});
/** Succeeds; its worker is killed the moment the broker's ack resolved (see the settled tap). */
app.task({ name: 'die-after-ack', echo: true }, (ctx) => {
  say(`start ${ctx.id} ${ctx.attempt}`);
  return 'acked';
});
app.hooks.task.settled.tap('conformance', (record) => {
  say(`settled ${record.id} ${record.status}`);
  // Between the ack and anything the broker would still write after it: nothing more runs here.
  if (record.name === 'die-after-ack') process.kill(process.pid, 'SIGKILL');
});

process.once('SIGTERM', () => void app.stop().finally(() => process.exit(0)));
await app.start();
say('ready');
