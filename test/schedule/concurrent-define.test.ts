/**
 * Two processes define different schedules at the same instant: every id stays in the app's
 * schedule list (the list is a GlobalConfig set, each add atomic; a read-modify-write of one key
 * lost ids here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import { redis } from '../../plugins/redis/index.js';
import { uniqueName } from '../contracts/helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/schedule-adder.ts', import.meta.url));
const appName = uniqueName('sched-define');
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  const admin = await adminClient();
  await deleteAppKeys(admin, [appName]);
  admin.disconnect();
});

function adder(prefix: string): { proc: ChildProcess; saw: (line: string) => Promise<void> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env: { ...process.env, QT_APP: appName, QT_REDIS_URL: REDIS_URL, QT_PREFIX: prefix, QT_COUNT: '25' }, stdio: ['pipe', 'pipe', 'inherit'] });
  procs.push(proc);
  let out = '';
  const waiters: Array<() => void> = [];
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const w of waiters.splice(0)) w();
  });
  const saw = (line: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (out.split('\n').includes(line)) resolve();
        else if (proc.exitCode !== null) reject(new Error(`adder ${prefix} exited before "${line}"`));
        else waiters.push(check);
      };
      proc.once('exit', check);
      check();
    });
  return { proc, saw };
}

describe('schedules defined by two processes at once', () => {
  it('keeps every id', async () => {
    const a = adder('a');
    const b = adder('b');
    await Promise.all([a.saw('ready'), b.saw('ready')]);
    a.proc.stdin!.write('go\n');
    b.proc.stdin!.write('go\n');
    await Promise.all([a.saw('done'), b.saw('done')]);
    const reader = new QueueTasks({ name: appName, plugins: [redis({ url: REDIS_URL })], config: { logLevel: 'silent' }, globals: false, sharedTasks: false });
    await reader.start({ worker: false });
    try {
      const ids = (await reader.schedules()).map((s) => s.id).sort();
      const expected = ['a', 'b'].flatMap((p) => Array.from({ length: 25 }, (_, n) => `${p}-${n}`)).sort();
      expect(ids).toEqual(expected);
    } finally {
      await reader.stop();
    }
  });
});
