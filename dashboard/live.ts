/**
 * The live parts: one subscription to `app.events` per handler, whatever the number of open tabs,
 * fanned out as Server-Sent Events; per-minute completed/failed counts for the overview; and the
 * queue counts, read once per tick for every tab together (never one poll per tab).
 */
import type { ServerResponse } from 'node:http';
import type { QueueTasks } from '../core/app.js';
import type { TaskEvent } from '../core/contracts.js';

const MINUTES = 15;
const TICK_MS = 2_000;

export interface Minute {
  readonly at: number;
  completed: number;
  failed: number;
}

export class Live {
  readonly #app: QueueTasks;
  readonly #clients = new Set<ServerResponse>();
  readonly #minutes: Minute[] = [];
  #off: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unsupported = false;

  constructor(app: QueueTasks) {
    this.#app = app;
  }

  /** Starts listening (idempotent); false when the app's broker has no event stream. */
  start(): boolean {
    if (this.#off !== undefined) return true;
    if (this.#unsupported) return false;
    try {
      this.#off = this.#app.events.on('*', (e) => this.#onEvent(e));
    } catch {
      this.#unsupported = true;
      return false;
    }
    return true;
  }

  /** Completed and failed tasks per minute, oldest first, for the last minutes (zeros filled in). */
  minutes(now = Date.now()): Minute[] {
    const current = Math.floor(now / 60_000);
    const out: Minute[] = [];
    for (let m = current - MINUTES + 1; m <= current; m++) {
      out.push(this.#minutes.find((x) => x.at === m * 60_000) ?? { at: m * 60_000, completed: 0, failed: 0 });
    }
    return out;
  }

  /** Holds `res` open as an event stream until the client goes away. */
  attach(res: ServerResponse): void {
    const live = this.start();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ live })}\n\n`);
    this.#clients.add(res);
    res.on('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopTicking();
    });
    this.#timer ??= setInterval(() => void this.#tick(), TICK_MS);
    void this.#tick();
  }

  close(): void {
    this.#off?.();
    this.#off = undefined;
    this.#stopTicking();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }

  #stopTicking(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #onEvent(e: TaskEvent): void {
    if (e.type === 'completed' || e.type === 'failed') {
      const at = Math.floor(e.at / 60_000) * 60_000;
      let minute = this.#minutes.find((m) => m.at === at);
      if (minute === undefined) {
        this.#minutes.push((minute = { at, completed: 0, failed: 0 }));
        this.#minutes.sort((a, b) => a.at - b.at);
        while (this.#minutes.length > MINUTES + 1) this.#minutes.shift();
      }
      if (e.type === 'completed') minute.completed++;
      else minute.failed++;
    }
    const { type, id, name, queue, attempt, at, progress, message } = e;
    this.#send('task', { type, id, name, queue, attempt, at, progress, message });
  }

  async #tick(): Promise<void> {
    if (this.#clients.size === 0) return;
    let counts: unknown;
    try {
      counts = await this.#app.counts();
    } catch {
      counts = undefined;
    }
    this.#send('stats', { counts, minutes: this.minutes() });
  }

  #send(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    let text: string;
    try {
      text = JSON.stringify(data);
    } catch {
      return; // a progress value that cannot be serialised is not worth a broken stream
    }
    const frame = `event: ${event}\ndata: ${text}\n\n`;
    for (const res of this.#clients) res.write(frame);
  }
}
