/**
 * A fixture in a child process (`node --import tsx <fixture>`), read line by line: what most
 * cross-process tests need. `lines` holds every line but `ready`, which resolves `ready` instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Child {
  readonly proc: ChildProcess;
  /** What it printed, one entry per line, without the `ready` line. */
  readonly lines: string[];
  /** Resolves once it printed `ready`. */
  readonly ready: Promise<void>;
  /** Whether it printed `ready` yet (for waitUntil, which bounds the wait and names it). */
  readonly isReady: () => boolean;
  /** Resolves once it exited and its output was read: the signal that ended it, else its exit code. */
  readonly exited: Promise<NodeJS.Signals | number | null>;
}

/** `env` is added to this process's. stderr is inherited unless `quiet` (then read and dropped). */
export function startChild(fixture: string, env: Record<string, string>, options: { quiet?: boolean } = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', options.quiet === true ? 'pipe' : 'inherit'] });
  const lines: string[] = [];
  let seen = false;
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'ready') {
        seen = true;
        onReady();
      } else lines.push(line);
    }
  });
  proc.stderr?.resume();
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => proc.once('close', (code, signal) => resolve(signal ?? code)));
  return { proc, lines, ready, isReady: () => seen, exited };
}
