/**
 * Listing the dead-letter queue for operators and tests. RabbitMQ has no "peek": consume up to the
 * scan limit without acking, then close the channel, which puts every message back in place.
 * Another reader consuming the DLQ at the same moment may hide some of them.
 */
import type { ChannelModel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import type { DeadLetter } from '../../core/contracts.js';
import { decodeMessage } from './codec.js';

export const REASON_HEADER = 'x-qtasks-reason';
export const ID_HEADER = 'x-qtasks-id';

/** The newest `limit` dead letters (the DLQ's tail), newest first. */
export async function readDeadLetters(model: ChannelModel | RecoveringChannelModel, dlq: string, limit: number, scanLimit: number): Promise<DeadLetter[]> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  try {
    const { messageCount } = await ch.checkQueue(dlq);
    const want = Math.min(messageCount, scanLimit, 65_535);
    if (want === 0 || limit <= 0) return [];
    await ch.prefetch(want);
    const got: ConsumeMessage[] = [];
    await new Promise<void>((resolve) => {
      // Another reader may hold some of them: stop waiting after a short while.
      const timer = setTimeout(resolve, 2_000);
      void ch.consume(dlq, (m) => {
        if (m === null) return;
        got.push(m);
        if (got.length >= want) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return got.reverse().slice(0, limit).map(toDeadLetter);
  } finally {
    await ch.close().catch(() => undefined);
  }
}

function toDeadLetter(m: ConsumeMessage): DeadLetter {
  const headers = m.properties.headers ?? {};
  const payload = m.content.toString('utf8');
  let id = typeof headers[ID_HEADER] === 'string' ? (headers[ID_HEADER] as string) : undefined;
  if (id === undefined) {
    try {
      const parsed = decodeMessage(m.content, m.properties.messageId) as { id?: unknown } | null;
      if (typeof parsed?.id === 'string') id = parsed.id;
    } catch {
      // not JSON: the message id below, if it had one
    }
  }
  // Keep what is known: a body we cannot read still had its AMQP message id.
  if (id === undefined && typeof m.properties.messageId === 'string' && m.properties.messageId !== '') id = m.properties.messageId;
  let reason = typeof headers[REASON_HEADER] === 'string' ? (headers[REASON_HEADER] as string) : undefined;
  if (reason === undefined) {
    const death = (headers['x-death'] as Array<{ reason?: unknown; queue?: unknown }> | undefined)?.[0];
    reason = death !== undefined ? `${String(death.reason)} by RabbitMQ from ${String(death.queue)}` : 'dead-lettered';
  }
  return { ...(id !== undefined ? { id } : {}), reason, payload };
}
