/** The Fastify example, driven through Fastify's inject (a full request through the router, hooks and logger). */
import { afterEach, describe, expect, it } from 'vitest';
import { appMain } from '../../core/index.js';
import { buildServer, type FastifyExample } from '../../examples/fastify.js';
import { LogSink } from '../support/log-sink.js';

let example: FastifyExample | undefined;
afterEach(async () => {
  await example?.server.close();
  example = undefined;
});

describe('examples/fastify', () => {
  it('enqueues and awaits a task from a route, logging through Fastify’s own pino', async () => {
    const sink = new LogSink();
    example = buildServer({ logger: { level: 'info', stream: sink } });
    const { server, queue } = example;
    expect(queue.state).toBe('created');

    const res = await server.inject({ method: 'POST', url: '/add', payload: { a: 2, b: 3 } });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ id: string; status: string; result: number }>();
    expect(body).toMatchObject({ status: 'success', result: 5 });
    expect(queue.state).toBe('started'); // onReady started it

    // The task's line came through server.log: Fastify's base bindings plus ours.
    const [taskLine] = sink.withMsg('adding');
    expect(taskLine).toMatchObject({ app: 'fastify-example', component: 'Task', taskId: body.id, task: 'add', attempt: 1, a: 2, b: 3, level: 30 });
    expect(taskLine).toHaveProperty('pid');
    // Fastify's own request lines share the sink, and the route's line carries the request id.
    const [finished] = sink.withMsg('task finished');
    expect(finished).toMatchObject({ taskId: body.id, status: 'success' });
    expect(typeof finished?.reqId).toBe('string');
    expect(sink.where({ app: 'fastify-example', component: 'QueueTasks', msg: 'app started', worker: true })).toHaveLength(1);
    // No global was set by the embedded queue; the host's level is untouched.
    expect(appMain()).toBeUndefined();
    expect(server.log.level).toBe('info');
  });

  it('validates the body before any task is enqueued', async () => {
    example = buildServer({ logger: { level: 'warn', stream: new LogSink() } });
    const res = await example.server.inject({ method: 'POST', url: '/add', payload: { a: 'two' } });
    expect(res.statusCode).toBe(400);
  });

  it('stops the queue in onClose', async () => {
    example = buildServer({ logger: { level: 'warn', stream: new LogSink() } });
    await example.server.ready();
    expect(example.queue.state).toBe('started');
    await example.server.close();
    expect(example.queue.state).toBe('stopped');
  });
});
