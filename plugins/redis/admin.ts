/**
 * Operator helpers that work on a plain client, outside any app: removing every key of an app
 * (QTasks' flush_all, without FLUSHDB on a server other apps share).
 */
import type { Redis } from 'ioredis';
import { Keys } from './keys.js';

/**
 * Deletes every key of app `appName` under `prefix` (default `qtasks`), with SCAN so the server
 * never blocks on one large command. Returns how many keys were deleted.
 */
export async function deleteAppKeys(client: Redis, appName: string, prefix = 'qtasks'): Promise<number> {
  const pattern = new Keys(prefix, appName).pattern;
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.del(...keys);
  } while (cursor !== '0');
  return deleted;
}
