/**
 * Flows: a parent task that runs after all its children ended, nested to any depth, with
 * `ctx.childResults()` in the parent and a per-child failure policy. Only the leaves are sent at
 * submit; each parent travels in its children's continuation and is enqueued by the worker that
 * finds every child ended (join.ts), under its derived id.
 */
import { randomUUID } from 'node:crypto';
import type { QueueTasks } from '../app.js';
import { ErrorCodes, QTasksError } from '../errors.js';
import type { TaskRecord } from '../record.js';
import type { TaskOptions } from '../task.js';
import { launch, placed } from './launch.js';
import { WORKFLOW_META, memberId, type ChildPolicy, type GroupLink } from './link.js';

/** One node of a flow: a task handle, its arguments, and the children that run before it. */
export interface FlowNode {
  readonly task: { readonly name: string; readonly options: Readonly<TaskOptions> };
  readonly args?: readonly unknown[];
  readonly children?: readonly FlowNode[];
  /** As a child: what its failure does to its parent. failParent (default): the parent fails without running; ignore: left out of childResults; continue: listed with its error. */
  readonly policy?: ChildPolicy;
}

const POLICIES: ReadonlySet<string> = new Set(['failParent', 'ignore', 'continue']);

/** Sends a flow; resolves with the root's record (status new; its id is the workflow's). */
export async function submitFlow(app: QueueTasks, root: FlowNode, options: { timeout?: number } = {}): Promise<TaskRecord> {
  check(root, 'flow', new Set());
  const id = randomUUID();
  const leaves: Array<{ node: FlowNode; id: string; link?: GroupLink }> = [];
  collect(root, id, undefined, leaves);
  // One message: the first leaf carries the others (launch.ts), so a producer dying here sends all or none.
  await launch(
    app,
    leaves.map((l) => ({ name: l.node.task.name, args: l.node.args ?? [], options: { id: l.id, meta: l.link !== undefined ? { [WORKFLOW_META]: l.link } : {}, ...placed(l.node.task.options) } })),
  );
  if (options.timeout !== undefined) return app.wait(id, options.timeout);
  const now = Date.now();
  const o = root.task.options;
  return {
    id, name: root.task.name, queue: o.queue ?? app.config.defaultQueue, args: root.args ?? [], priority: o.priority ?? app.config.defaultPriority,
    status: 'new', attempts: 0, createdAt: now, updatedAt: now,
  };
}

/** Walks the tree: a node with children travels in each child's link; a leaf is sent. */
function collect(node: FlowNode, id: string, own: GroupLink | undefined, leaves: Array<{ node: FlowNode; id: string; link?: GroupLink }>): void {
  const children = node.children ?? [];
  if (children.length === 0) {
    leaves.push({ node, id, ...(own !== undefined ? { link: own } : {}) });
    return;
  }
  const o = node.task.options;
  const callback = {
    flow: true as const,
    name: node.task.name,
    args: node.args ?? [],
    ...(o.queue !== undefined ? { queue: o.queue } : {}),
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
    ...(o.delay !== undefined ? { delay: o.delay } : {}),
    ...(own !== undefined ? { parentLink: own } : {}),
  };
  children.forEach((child, index) => {
    const link: GroupLink = { kind: 'group', id, index, size: children.length, callback, ...(child.policy !== undefined ? { policy: child.policy } : {}) };
    collect(child, memberId(link, index), link, leaves);
  });
}

function check(node: FlowNode, where: string, path: Set<FlowNode>): void {
  if (typeof node !== 'object' || node === null || typeof node.task?.name !== 'string') {
    throw new QTasksError(ErrorCodes.INVALID_ARGS, `${where}: each node needs a task handle ({ task, args, children })`);
  }
  if (path.has(node)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `${where}: the flow contains a cycle (a node is its own ancestor)`);
  if (node.args !== undefined && !Array.isArray(node.args)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `${where} (task "${node.task.name}"): args must be an array`);
  if (node.policy !== undefined && !POLICIES.has(node.policy)) {
    throw new QTasksError(ErrorCodes.INVALID_OPTION, `${where} (task "${node.task.name}"): policy must be failParent, ignore or continue, got ${String(node.policy)}`);
  }
  if (node.children !== undefined && !Array.isArray(node.children)) throw new QTasksError(ErrorCodes.INVALID_ARGS, `${where}: children must be an array`);
  path.add(node);
  node.children?.forEach((c, i) => check(c, `${where}.children[${i}]`, path));
  path.delete(node);
}
