/**
 * The cross-process control tests' worker: test/fixtures/control-worker.ts in a child process.
 * `lines` collects what it prints (`start <id>`, `aborted <id>`); `ready` resolves once it consumes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../fixtures/control-worker.ts', import.meta.url));

export interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  readonly ready: Promise<void>;
  readonly exited: Promise<unknown>;
}

/** `env`: QT_APP and QT_REDIS_URL, plus QT_AMQP_URL and QT_PREFIX for RabbitMQ with Redis storage. */
export function startControlWorker(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let buffer = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'ready') onReady();
      else lines.push(line);
    }
  });
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  return { proc, lines, ready, exited };
}
