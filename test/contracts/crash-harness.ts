/**
 * The crash harness of `qtasks/testing`: starts a worker of a target in a child process (the
 * plugins come from the module and export the author names), reads what it reports, and kills
 * it with SIGKILL, as an out-of-memory kill or a pulled plug would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../core/config.js';
import type { ProcessTarget } from './suite.js';

// The child script next to this file: .ts in the repository (run through the target's execArgv), .js once built.
// Two literal URLs, so the package's reachability check sees the shipped child module.
const CHILD = fileURLToPath(import.meta.url.endsWith('.ts') ? new URL('./worker-process.ts', import.meta.url) : new URL('./worker-process.js', import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Resolves once the child's worker consumes. */
  readonly ready: Promise<void>;
  /** `<id> <attempt>` of every handler start, in order. */
  readonly started: string[];
  /** `<id> <status>` of every outcome the child stored (owned settlements only). */
  readonly settled: string[];
  /** Resolves when the child exits. */
  readonly exited: Promise<void>;
  /** SIGKILL: no stop(), no cleanup, leases held. */
  kill(): Promise<void>;
}

/** Starts the worker process of app `appName` with `config` (its tasks: `work`, `fence`, `exit`, `die-after-ack`; see worker-process.ts). */
export function startWorkerProcess(target: ProcessTarget, appName: string, config: Partial<Config>): WorkerProcess {
  const child = spawn(process.execPath, [...(target.execArgv ?? []), CHILD], {
    env: { ...process.env, QT_MODULE: target.module, QT_EXPORT: target.export, QT_APP: appName, QT_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started: string[] = [];
  const settled: string[] = [];
  let onReady!: () => void;
  let onFail!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'ready') onReady();
      else if (line.startsWith('start ')) started.push(line.slice(6));
      else if (line.startsWith('settled ')) settled.push(line.slice(8));
    }
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      onFail(new Error(`worker process of ${appName} exited (${signal ?? code}) before it was ready: see its stderr above`));
      resolve();
    }),
  );
  ready.catch(() => undefined);
  return {
    child,
    ready,
    started,
    settled,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
