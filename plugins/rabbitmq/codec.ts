/**
 * The task message on the wire: the task id in the AMQP `message-id` property (where RabbitMQ
 * tools show it) and the rest as a positional JSON array in the body:
 *
 *   body: [1, name, queue, args, priority, createdAt, maxDeliveries, meta?]
 *
 * Why not the TaskMessage object as JSON: RabbitMQ stores and moves every byte of a persistent
 * message, and on this RabbitMQ (3.10, Erlang) a body over 64 bytes becomes a reference-counted
 * binary; on a deep classic priority queue that showed directly in the consume rate (a no-op
 * task's body is ~45 bytes this way, ~150 as an object; docs/rabbitmq.md, "Performance").
 * The body is still JSON, readable in the DLQ and the management UI.
 *
 * Decoding also accepts a plain TaskMessage object (id included), so other producers may publish
 * that form.
 */
import type { TaskMessage } from '../../core/record.js';

const VERSION = 1;

export function encodeMessage(m: TaskMessage): Buffer {
  const fields: unknown[] = [VERSION, m.name, m.queue, m.args, m.priority, m.createdAt, m.maxDeliveries];
  if (m.meta !== undefined) fields.push(m.meta);
  return Buffer.from(JSON.stringify(fields));
}

/** The decoded value, to be checked with validateMessage. Throws on a body that is not JSON. */
export function decodeMessage(body: Buffer, messageId: unknown): unknown {
  const value: unknown = JSON.parse(body.toString('utf8'));
  if (!Array.isArray(value)) return value;
  if (value[0] !== VERSION) return { unsupportedVersion: value[0] };
  const [, name, queue, args, priority, createdAt, maxDeliveries, meta] = value as unknown[];
  return { id: messageId, name, queue, args, priority, createdAt, maxDeliveries, ...(meta !== undefined ? { meta } : {}) };
}
