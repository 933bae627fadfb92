/**
 * Operator helpers that work on a plain client, outside any app: removing every key of an app
 * (QTasks' flush_all, without FLUSHDB on a server other apps share).
 */
import { Cluster, type Redis } from 'ioredis';
import { Keys, queueKeysPattern } from './keys.js';

/**
 * Deletes every key of app `appName` under `prefix` (default `qtasks`), in either placement (the
 * app's base and its queues' bases), with SCAN so the server never blocks on one large command.
 * On a Cluster client every master is scanned. Returns how many keys were deleted.
 */
export async function deleteAppKeys(client: Redis | Cluster, appName: string, prefix = 'qtasks'): Promise<number> {
  const patterns = [new Keys(prefix, appName).pattern, queueKeysPattern(prefix, appName)];
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let deleted = 0;
  for (const node of nodes) {
    for (const pattern of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        // One key per DEL: on a cluster node the keys of one scan may span slots.
        if (keys.length > 0) {
          const replies = await keys.reduce((p, k) => p.del(k), node.pipeline()).exec();
          for (const [err, n] of replies ?? []) if (err === null) deleted += Number(n);
        }
      } while (cursor !== '0');
    }
  }
  return deleted;
}
