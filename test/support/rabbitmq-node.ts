/**
 * A private RabbitMQ node for the tests that restart a broker or raise a resource alarm: its own
 * node name, ports and data directory, started from the machine's `rabbitmq-server`, so the shared
 * server on 5672 is never touched. Debian's scripts run the node as the `rabbitmq` user, hence a
 * world-writable scratch directory.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { waitUntil } from '../contracts/helpers.js';
import { sparePort } from './ports.js';

const run = promisify(execFile);

export class PrivateRabbit {
  readonly node: string;
  readonly port: number;
  readonly #dir: string;
  readonly #env: NodeJS.ProcessEnv;
  #proc: ChildProcess | undefined;

  private constructor(port: number, distPort: number, extraConfig: string) {
    this.port = port;
    this.node = `qtasks-test-${process.pid}-${port}@localhost`;
    this.#dir = mkdtempSync(join(tmpdir(), 'qtasks-rabbit-'));
    chmodSync(this.#dir, 0o777);
    const file = (name: string, text: string): string => {
      const path = join(this.#dir, name);
      writeFileSync(path, text);
      chmodSync(path, 0o666);
      return path;
    };
    file('rabbitmq.conf', `listeners.tcp.default = 127.0.0.1:${port}\n${extraConfig}`);
    this.#env = {
      ...process.env,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_PORT: String(port),
      RABBITMQ_DIST_PORT: String(distPort),
      RABBITMQ_CONFIG_FILE: join(this.#dir, 'rabbitmq'),
      // No plugins: the shared node's management plugin would try to bind its port again.
      RABBITMQ_ENABLED_PLUGINS_FILE: file('enabled_plugins', '[].\n'),
      RABBITMQ_MNESIA_BASE: join(this.#dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.#dir, 'log'),
      RABBITMQ_PID_FILE: join(this.#dir, 'pid'),
    };
  }

  /** `extraConfig`: more rabbitmq.conf lines (`max_message_size = 1048576`, say). */
  static async create(extraConfig = ''): Promise<PrivateRabbit> {
    return new PrivateRabbit(await sparePort(), await sparePort(), extraConfig);
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Starts the node (keeping its data from an earlier run) and waits until AMQP answers. */
  async start(): Promise<void> {
    this.#proc = spawn('rabbitmq-server', [], { env: this.#env, stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) => this.#proc!.once('error', reject));
    await Promise.race([failed, waitUntil(() => this.#answers(), `private RabbitMQ node on port ${this.port}`, 60_000, 200)]);
  }

  /** A clean shutdown: what the broker confirmed is on disk when this resolves. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    await this.ctl('stop');
    await exited;
    this.#proc = undefined;
  }

  /**
   * A crash: SIGKILL to the node's Erlang VM (from its pid file), no shutdown at all. Resolves
   * once the node no longer answers; `start()` brings it back on the same data.
   */
  async kill(): Promise<void> {
    const pid = Number(readFileSync(join(this.#dir, 'pid'), 'utf8').trim());
    const proc = this.#proc;
    const exited = proc === undefined || proc.exitCode !== null ? Promise.resolve() : new Promise((resolve) => proc.once('exit', resolve));
    process.kill(pid, 'SIGKILL');
    await waitUntil(async () => !(await this.#answers()), `private RabbitMQ node on port ${this.port} to die`, 30_000, 100);
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    proc?.kill('SIGKILL');
    this.#proc = undefined;
  }

  /** `rabbitmqctl -n <this node> ...args`. */
  async ctl(...args: string[]): Promise<string> {
    const { stdout } = await run('rabbitmqctl', ['-q', '-n', this.node, ...args], { env: this.#env });
    return stdout;
  }

  async dispose(): Promise<void> {
    try {
      await this.stop();
    } catch {
      // The wrapper script may not take the node down with it: the node's own pid file does
      // (when the node got far enough to write one).
      const pidFile = join(this.#dir, 'pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGKILL');
      this.#proc?.kill('SIGKILL');
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #answers(): Promise<boolean> {
    try {
      const conn = await amqp.connect(this.url);
      await conn.close();
      return true;
    } catch {
      return false;
    }
  }
}
