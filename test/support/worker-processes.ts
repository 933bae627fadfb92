/**
 * Worker processes for the crash-suspicion and worker-registry tests (test/fixtures/suspect-worker.ts):
 * spawn one, read what it reports, restart it when it dies (as a process manager would).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../fixtures/suspect-worker.ts', import.meta.url));

export interface Start {
  readonly id: string;
  readonly attempt: number;
  readonly task: string;
}

export interface WorkerProcess {
  readonly proc: ChildProcess;
  readonly starts: Start[];
  /** The worker's id in the registry, once it is consuming. */
  readonly ready: Promise<string>;
  /** Resolves with the exit code once every line it wrote has been read. */
  readonly closed: Promise<number | null>;
  /** Its stderr (logs at warn and above). */
  readonly stderr: () => string;
}

export function startWorkerProcess(env: Record<string, string>): WorkerProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const starts: Start[] = [];
  let onReady!: (id: string) => void;
  let failed!: (err: Error) => void;
  const ready = new Promise<string>((resolve, reject) => ((onReady = resolve), (failed = reject)));
  ready.catch(() => undefined);
  let buffer = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const [kind, a, b, c] = buffer.slice(0, nl).split(' ');
      buffer = buffer.slice(nl + 1);
      if (kind === 'ready') onReady(a!);
      else if (kind === 'start') starts.push({ id: a!, attempt: Number(b), task: c! });
    }
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (err += chunk));
  const closed = new Promise<number | null>((resolve) =>
    proc.once('close', (code) => {
      failed(new Error(`worker exited before it was ready (${code}): ${err.slice(-2_000)}`));
      resolve(code);
    }),
  );
  return { proc, starts, ready, closed, stderr: () => err };
}

/** Keeps one worker running: starts another each time the current one exits, up to `max` in all. */
export class Supervisor {
  readonly all: WorkerProcess[] = [];
  #stopped = false;

  constructor(
    readonly env: Record<string, string>,
    readonly max: number,
  ) {
    this.#spawn();
  }

  get current(): WorkerProcess {
    return this.all[this.all.length - 1]!;
  }

  /** Every task start reported by any of its processes, in order. */
  get starts(): Start[] {
    return this.all.flatMap((w) => w.starts);
  }

  /** How many of its processes died (exited without being asked to). */
  get deaths(): number {
    return this.all.filter((w) => w.proc.exitCode !== null && w.proc.exitCode !== 0).length;
  }

  #spawn(): void {
    const w = startWorkerProcess(this.env);
    this.all.push(w);
    void w.closed.then(() => {
      if (!this.#stopped && this.all.length < this.max) this.#spawn();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const w of this.all) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
    await Promise.all(this.all.map((w) => w.closed));
  }
}

export async function killAll(workers: readonly WorkerProcess[]): Promise<void> {
  for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.closed));
}
