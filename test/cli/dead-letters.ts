/**
 * Real dead letters for the CLI and dashboard tests: `crash` tasks of test/fixtures/crash-app.ts
 * kill their worker process; a new `qtasks run` is started after each death (as a process
 * manager would) until the crash-suspicion rules have dead-lettered every one of them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { sleep } from '../contracts/helpers.js';

const root = resolve(import.meta.dirname, '..', '..');
export const CRASH_TARGET = 'test/fixtures/crash-app.ts:app';

/** Each task needs two lost runs and a third delivery; a bound so a regression fails, not hangs. */
const MAX_LIVES = 16;

/** `qtasks run` of the crash app (from source), its env giving QT_APP, QT_REDIS_URL and QT_FLAG. */
export function startCrashWorker(env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'bin', 'qtasks.ts'), 'run', '-A', CRASH_TARGET], { cwd: root, env, stdio: 'ignore' });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

const live = new Set<ChildProcess>();
/** Bumped by stopCrashWorkers: a crashUntilDead loop still going (its test timed out) gives up. */
let generation = 0;

/** Kills every crash worker still running (a test that timed out must not leave one behind). */
export async function stopCrashWorkers(): Promise<void> {
  generation++;
  await Promise.all(
    [...live].map(async (child) => {
      const gone = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await gone;
    }),
  );
}

export async function crashUntilDead(env: NodeJS.ProcessEnv, allDead: () => Promise<boolean>): Promise<number> {
  const mine = generation;
  for (let lives = 1; lives <= MAX_LIVES; lives++) {
    if (generation !== mine) throw new Error('crash workers stopped');
    const child = startCrashWorker(env);
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    let gone = false;
    void exited.then(() => (gone = true));
    for (;;) {
      if (await allDead()) {
        if (!gone) {
          child.kill('SIGKILL');
          await exited;
        }
        return lives;
      }
      if (gone) break;
      await sleep(200);
    }
  }
  throw new Error(`the crash tasks were not all dead after ${MAX_LIVES} worker processes`);
}
