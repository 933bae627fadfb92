/**
 * The program a sandbox runs, as plain JavaScript text: the same text runs from source (vitest,
 * tsx) and from dist, in a worker thread (`eval: true`) and in a child process (`node -e`), with
 * no loader and no file to locate. It loads the processor, then runs one task at a time for the
 * main side, which keeps every timer, lease and record (the sandbox only runs user code).
 */
export const CHILD_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const send = parentPort ? (m) => parentPort.postMessage(m) : (m) => process.send(m);
const processor = parentPort ? workerData.processor : process.env.QTASKS_SANDBOX_PROCESSOR;
const running = new Map();
let handler;

function errorOf(e) {
  if (e instanceof Error) {
    return { name: e.name, message: e.message, stack: e.stack, code: typeof e.code === 'string' ? e.code : undefined, delayMs: typeof e.delayMs === 'number' ? e.delayMs : undefined };
  }
  let text;
  try { text = JSON.stringify(e); } catch { text = String(e); }
  return { name: 'Error', message: 'non-Error thrown: ' + (text === undefined ? String(e) : text), code: 'QTASKS_ERR_NON_ERROR_THROWN' };
}

function logger(id) {
  const out = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) {
    out[level] = (a, b) => {
      let obj, msg;
      if (typeof a === 'string') { msg = a; obj = undefined; } else { obj = a instanceof Error ? { err: errorOf(a) } : a; msg = typeof b === 'string' ? b : undefined; }
      try { send({ t: 'log', id, level, obj, msg }); } catch { send({ t: 'log', id, level, obj: undefined, msg }); }
    };
  }
  out.child = () => out;
  return out;
}

async function run(m) {
  const controller = new AbortController();
  running.set(m.id, controller);
  const ctx = {
    id: m.ctx.id, name: m.ctx.name, queue: m.ctx.queue, priority: m.ctx.priority, attempt: m.ctx.attempt,
    signal: controller.signal,
    logger: logger(m.id),
    cancel(reason = 'cancelled') { const e = new Error(reason); e.name = 'TaskCancelError'; e.code = 'QTASKS_ERR_TASK_CANCELLED'; throw e; },
    progress(value) { send({ t: 'progress', id: m.id, value }); },
    log(...parts) {
      const text = parts.map((p) => {
        if (typeof p === 'string') return p;
        if (p instanceof Error) return p.name + ': ' + p.message;
        try { const j = JSON.stringify(p); return j === undefined ? String(p) : j; } catch { return String(p); }
      }).join(' ');
      send({ t: 'line', id: m.id, text });
    },
  };
  try {
    let value = m.echo ? handler(ctx, ...m.args) : handler(...m.args);
    if (value !== null && typeof value === 'object' && typeof value.next === 'function' && (Symbol.asyncIterator in value || Symbol.iterator in value)) {
      const out = [];
      for await (const v of value) { out.push(v); send({ t: 'progress', id: m.id, value: v }); }
      value = out;
    }
    value = await value;
    try {
      send({ t: 'done', id: m.id, ok: true, value });
    } catch (e) {
      send({ t: 'done', id: m.id, ok: false, error: { name: 'QTasksError', code: 'QTASKS_ERR_INVALID_RESULT', message: 'task "' + m.ctx.name + '" returned a value that cannot leave its sandbox: ' + (e && e.message) } });
    }
  } catch (e) {
    send({ t: 'done', id: m.id, ok: false, error: errorOf(e) });
  } finally {
    running.delete(m.id);
  }
}

function onMessage(m) {
  if (m.t === 'run') void run(m);
  else if (m.t === 'abort') running.get(m.id)?.abort(new Error(m.reason));
}

if (parentPort) parentPort.on('message', onMessage);
else {
  process.on('message', onMessage);
  // The main side is gone: nobody will read a result or stop this process.
  process.on('disconnect', () => process.exit(1));
}

import(processor).then(
  (mod) => {
    handler = mod.default;
    if (typeof handler !== 'function') {
      send({ t: 'init-error', message: processor + ' has no default-exported function (its default export is ' + (handler === null ? 'null' : typeof handler) + ')' });
      return;
    }
    send({ t: 'ready' });
  },
  (e) => send({ t: 'init-error', message: 'cannot load ' + processor + ': ' + (e && e.message) }),
);
`;
