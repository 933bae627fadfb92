/** The Express example on a real loopback port (port 0), with real HTTP requests. */
import { EventEmitter } from 'node:events';
import { pino as createPino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type ExpressExample } from '../../examples/express.js';
import { LogSink } from '../support/log-sink.js';

let example: ExpressExample | undefined;
afterEach(async () => {
  await example?.close();
  example = undefined;
});

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('examples/express', () => {
  it('enqueues and awaits a task over HTTP, logging through the host’s pino', async () => {
    const sink = new LogSink();
    const host = createPino({ level: 'info' }, sink);
    example = await startServer({ logger: host, port: 0 });
    expect(example.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(example.queue.state).toBe('started');

    const { status, json } = await post(`${example.url}/add`, { a: 20, b: 22 });
    expect(status).toBe(200);
    expect(json).toMatchObject({ status: 'success', result: 42 });

    const [taskLine] = sink.withMsg('adding');
    expect(taskLine).toMatchObject({ app: 'express-example', component: 'Task', taskId: json.id, task: 'add', a: 20, b: 22 });
    const [request] = sink.withMsg('request');
    const [finished] = sink.withMsg('task finished');
    expect(finished).toMatchObject({ taskId: json.id, reqId: request?.reqId });
    expect(host.level).toBe('info');
  });

  it('answers 400 for a bad body without enqueuing', async () => {
    example = await startServer({ logger: createPino({ level: 'silent' }), port: 0 });
    const { status } = await post(`${example.url}/add`, { a: 1 });
    expect(status).toBe(400);
  });

  it('a shutdown signal closes the server, then stops the queue', async () => {
    const signals = new EventEmitter();
    const sink = new LogSink();
    example = await startServer({ logger: createPino({ level: 'info' }, sink), port: 0, signals: { source: signals, names: ['SIGTERM'] } });
    const { url, queue, closed } = example;
    expect((await post(`${url}/add`, { a: 1, b: 1 })).json.result).toBe(2);

    signals.emit('SIGTERM');
    await closed;
    expect(queue.state).toBe('stopped');
    expect(signals.listenerCount('SIGTERM')).toBe(0);
    await expect(fetch(`${url}/add`, { method: 'POST' })).rejects.toThrow();
    expect(sink.withMsg('server and queue stopped')).toHaveLength(1);
  });
});
