/**
 * Listing the dead-letter queue for operators and tests. RabbitMQ has no "peek": consume up to the
 * scan limit without acking, then close the channel, which puts every message back in place.
 * Another reader consuming the DLQ at the same moment may hide some of them.
 */
import type { Channel, ChannelModel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import { asQTasksError, ConnectionClosedError, ErrorCodes } from '../../core/errors.js';
import type { DeadLetter } from '../../core/contracts.js';
import { decodeMessage } from './codec.js';

export const REASON_HEADER = 'x-qtasks-reason';
export const ID_HEADER = 'x-qtasks-id';

/**
 * The newest `limit` dead letters (the DLQ's tail), newest first. Bounded by `timeoutMs` like a
 * publish: a server that stops answering fails the call (CONNECTION_CLOSED) instead of hanging it.
 */
export async function readDeadLetters(model: ChannelModel | RecoveringChannelModel, dlq: string, limit: number, scanLimit: number, timeoutMs: number): Promise<DeadLetter[]> {
  let ch: Channel | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failed = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConnectionClosedError(`rabbitmq: reading dead letters from ${dlq} got no reply within ${timeoutMs} ms`)), timeoutMs);
  });
  const scan = async (): Promise<DeadLetter[]> => {
    ch = await model.createChannel();
    ch.on('error', () => undefined);
    if (failed) void ch.close().catch(() => undefined); // opened after the deadline
    const letters = await scanQueue(ch, dlq, limit, scanLimit);
    // Closing puts every message read back in place: done before answering, so a next read sees them.
    await ch.close().catch(() => undefined);
    return letters;
  };
  try {
    return await Promise.race([scan(), deadline]);
  } catch (err) {
    failed = true;
    void ch?.close().catch(() => undefined);
    throw asQTasksError(err, ErrorCodes.BROKER_UNAVAILABLE, `rabbitmq: reading dead letters from ${dlq} failed`);
  } finally {
    clearTimeout(timer);
  }
}

async function scanQueue(ch: Channel, dlq: string, limit: number, scanLimit: number): Promise<DeadLetter[]> {
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
