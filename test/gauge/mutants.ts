/**
 * The gauge of the conformance suites: deliberate, semantic bugs, each a way to lose or double
 * work in production. `npm run gauge` applies them one at a time (to a copy of the repository)
 * and runs the target's conformance suite; every one must make it fail. A mutant whose `find`
 * text no longer exists fails the gauge too: edit it along with the code, never drop it quietly.
 */

export type GaugeTarget = 'memory' | 'memory-storage' | 'custom-broker' | 'redis';

export interface Mutant {
  readonly target: GaugeTarget;
  /** The bug, as the list names it. */
  readonly bug: string;
  readonly file: string;
  readonly find: string;
  readonly replace: string;
}

/** How each target's suite is run: the test file and a name filter (vitest -t). */
export const SUITES: Record<GaugeTarget, { readonly file: string; readonly filter: string }> = {
  memory: { file: 'test/plugins/memory.test.ts', filter: 'broker conformance: memory .broker and storage in one.' },
  'memory-storage': { file: 'test/plugins/memory.test.ts', filter: 'storage conformance: memory' },
  'custom-broker': { file: 'test/examples/custom-broker.test.ts', filter: 'broker conformance' },
  redis: { file: 'test/plugins/redis.test.ts', filter: 'broker conformance: redis .broker and storage in one.' },
};

export const MUTANTS: readonly Mutant[] = [
  // The memory plugin. By design its lease lasts while the broker that took the delivery runs
  // (docs/decisions.md), so lease bugs are gauged on the custom broker and on Redis.
  {
    target: 'memory',
    bug: 'busy polling every 2 ms while idle',
    file: 'plugins/memory/backend.ts',
    find: '  #pump(): void {\n',
    replace: '  #pump(): void {\n    if (this.#consumers.size > 0) setTimeout(() => this.#schedulePump(), 2).unref();\n',
  },
  {
    target: 'memory',
    bug: 'retry delay ignored',
    file: 'plugins/memory/broker.ts',
    find: 'this.#backend.enqueue(delivery.message, delayMs, delivery.attempt, true, delivery.lost);',
    replace: 'this.#backend.enqueue(delivery.message, 0, delivery.attempt, true, delivery.lost);',
  },
  {
    target: 'memory',
    bug: 'no locking between competing consumers (a task handed to a second consumer too)',
    file: 'plugins/memory/backend.ts',
    find: '        consumer.deliver(next.message, next.deliveries + 1, next.lost);\n',
    replace: '        consumer.deliver(next.message, next.deliveries + 1, next.lost);\n        if (this.#consumers.size > 1 && next.deliveries === 0) this.enqueue(next.message, 0, 0, false);\n',
  },
  {
    target: 'memory',
    bug: 'timer overflow on long delays (one Node timer past 2^31-1 ms fires after 1 ms)',
    file: 'plugins/memory/backend.ts',
    find: 'this.#delayTimer = setLongTimeout(() => this.#promote(), Math.max(0, next.at - Date.now())).unref();',
    replace: 'const t = setTimeout(() => this.#promote(), Math.max(0, next.at - Date.now())).unref();\n    this.#delayTimer = { cancel: () => clearTimeout(t), unref: () => this.#delayTimer! };',
  },
  {
    target: 'memory',
    bug: 'priority ignored (FIFO only)',
    file: 'plugins/memory/backend.ts',
    find: 'const byPriority = (a: Ready, b: Ready): boolean => a.message.priority < b.message.priority || (a.message.priority === b.message.priority && a.seq < b.seq);',
    replace: 'const byPriority = (a: Ready, b: Ready): boolean => a.seq < b.seq;',
  },

  {
    target: 'memory',
    bug: 'fused: the outcome written after the ack, not awaited',
    file: 'plugins/memory/broker.ts',
    find: '      backend.saveRecord(record, options.ttlMs);\n      const keep',
    replace: '      setTimeout(() => backend.saveRecord(record, options.ttlMs), 5);\n      const keep',
  },

  // The memory storage, through the storage suite.
  {
    target: 'memory-storage',
    bug: 'no fencing of record writes (a stale attempt overwrites a newer one)',
    file: 'plugins/memory/backend.ts',
    find: '    if (current !== undefined && current.record.attempts > record.attempts) return false;\n',
    replace: '',
  },
  {
    target: 'memory-storage',
    bug: 'a waiter not woken when the final record expires at once (result TTL 0)',
    file: 'plugins/memory/backend.ts',
    find: '    const final = isFinal(record.status);\n',
    replace: '    const final = isFinal(record.status);\n    if (final && ttlMs === 0) return true;\n',
  },

  {
    target: 'memory-storage',
    bug: 'saveMany not fenced per record (answers true for every write)',
    file: 'plugins/memory/storage.ts',
    find: 'return writes.map((w) => this.#backend.saveRecord(w.record, w.options.ttlMs));',
    replace: 'return writes.map((w) => (this.#backend.saveRecord(w.record, w.options.ttlMs), true));',
  },

  // examples/custom-broker.ts: an in-process store, so no crash or fencing test reaches it.
  {
    target: 'custom-broker',
    bug: 'leases never renewed',
    file: 'examples/custom-broker.ts',
    find: 'setInterval(() => this.#store.renew(this.#held.values(), this.#leaseMs),',
    replace: 'setInterval(() => undefined,',
  },
  {
    target: 'custom-broker',
    bug: 'no locking between competing consumers (a take leaves the entry queued)',
    file: 'examples/custom-broker.ts',
    find: 'const taken = this.entries.splice(best, 1)[0]!;',
    replace: 'const taken = this.entries[best]!;',
  },
  {
    target: 'custom-broker',
    bug: 'busy polling every 2 ms while idle',
    file: 'examples/custom-broker.ts',
    find: '    if (at === Infinity) return;\n',
    replace: '    if (at === Infinity) at = Date.now() + 2;\n',
  },
  {
    target: 'custom-broker',
    bug: 'retry delay ignored',
    file: 'examples/custom-broker.ts',
    find: 'this.#store.put(m.queue, JSON.stringify(m), m.priority, delayMs, delivery.attempt, delivery.lost);',
    replace: 'this.#store.put(m.queue, JSON.stringify(m), m.priority, 0, delivery.attempt, delivery.lost);',
  },
  {
    target: 'custom-broker',
    bug: 'timer overflow on long delays',
    file: 'examples/custom-broker.ts',
    find: 'Math.min(MAX_TIMER_MS, Math.max(1, at - Date.now()))',
    replace: 'Math.max(1, at - Date.now())',
  },
  {
    target: 'custom-broker',
    bug: 'publish resolving before the message is durable',
    file: 'examples/custom-broker.ts',
    find: '    this.#store.put(message.queue, JSON.stringify(message), message.priority, options.delayMs);\n',
    replace: '    setTimeout(() => this.#store.put(message.queue, JSON.stringify(message), message.priority, options.delayMs), 20);\n',
  },

  // Redis: a server, so the crash harness, the competing processes and the fencing test apply.
  {
    target: 'redis',
    bug: 'leases never renewed',
    file: 'plugins/redis/lua.ts',
    find: 'export const RENEW = `${COMMON}\n',
    replace: 'export const RENEW = `${COMMON}\nif true then return 0 end\n',
  },
  {
    target: 'redis',
    bug: 'no fencing (a stale delivery settles over the newer one)',
    file: 'plugins/redis/lua.ts',
    find: '    local st = 0\n    if scores[k] then\n',
    replace: '    local st = 0\n    if true then\n',
  },
  {
    target: 'redis',
    bug: 'no redelivery of a dead worker\'s tasks (expired leases never recovered)',
    file: 'plugins/redis/lua.ts',
    find: "for bump, key in ipairs({ p .. 'delayed', leases }) do",
    replace: "for bump, key in ipairs({ p .. 'delayed' }) do",
  },
  {
    target: 'redis',
    bug: 'publish resolving before the message is durable',
    file: 'plugins/redis/broker.ts',
    find: 'this.#outbox.push({ fields, queue: message.queue, id: message.id, body, record: record === \'\' ? undefined : record, resolve, reject });',
    replace: 'this.#outbox.push({ fields, queue: message.queue, id: message.id, body, record: record === \'\' ? undefined : record, resolve: () => undefined, reject: () => undefined });\n      resolve();',
  },
  {
    target: 'redis',
    bug: 'fused: ack and outcome written as two separate steps (the outcome follows the ack)',
    file: 'plugins/redis/broker.ts',
    find: '    return this.#consumer.settle(kind, delivery, json, num, this.#aboutOf(record), extra);\n',
    replace:
      "    const records = this.records;\n    if (kind === 'a' && records !== undefined) {\n      const running = `${record.attempts}|${JSON.stringify({ ...record, status: 'process', returning: undefined, finishedAt: undefined })}`;\n      return this.#consumer.settle(kind, delivery, running, num, this.#aboutOf(record), extra).then((ok) => {\n        if (ok) setTimeout(() => void records.save(record, { ttlMs: num }), 50);\n        return ok;\n      });\n    }\n    return this.#consumer.settle(kind, delivery, json, num, this.#aboutOf(record), extra);\n",
  },
];
