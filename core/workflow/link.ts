/**
 * The continuation a workflow step's message carries (in `meta`, under WORKFLOW_META), and the
 * ids of a chain's steps.
 */

/** The meta key of a step's continuation; reserved. */
export const WORKFLOW_META = 'qtasks.workflow';

/** How to enqueue a later step, resolved by the producer (a worker may not know the task). */
export interface StepSpec {
  readonly name: string;
  readonly queue?: string;
  readonly priority?: number;
  readonly delay?: number;
  /** A chain step that is a group: its members (each with its own args), run in parallel. */
  readonly group?: readonly MemberSpec[];
}

/** A group member inside a chain: its call, resolved by the producer. */
export interface MemberSpec extends StepSpec {
  readonly args: readonly unknown[];
}

/** The name a group step has in a chain (and in the workflow view). */
export const GROUP_NAME = 'group';

/** The workflow a step id belongs to: ids derive from the workflow's (a UUID) with `.` suffixes. */
export function rootOf(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

/** A chain step's continuation: which workflow, which step this is, and every step. */
export interface ChainLink {
  readonly id: string;
  readonly index: number;
  readonly steps: readonly StepSpec[];
}

/** Step ids: the last step's id is the workflow's (its record is the chain's); the others derive from it. */
export function stepId(link: ChainLink, index: number): string {
  return index === link.steps.length - 1 ? link.id : `${link.id}.${index}`;
}

/**
 * The chain as a group's members carry it (their callback's continuation): the member lists of
 * the groups up to step `upTo` emptied. They were sent already, and each member carrying every
 * member's call would make a group's messages grow with the square of its size.
 */
export function trimmed(link: ChainLink, upTo: number): ChainLink {
  return { ...link, steps: link.steps.map((s, i) => (i <= upTo && s.group !== undefined ? { ...s, group: [] } : s)) };
}

/** A chain's first step (of two or more): where app.workflow(id) finds the chain's steps. */
export function firstStepId(workflowId: string): string {
  return `${workflowId}.0`;
}

/** The continuation of a message, if it is a workflow step (checked: meta is anyone's JSON). */
export function linkOf(meta: Readonly<Record<string, unknown>> | undefined): ChainLink | undefined {
  const v = meta?.[WORKFLOW_META];
  if (typeof v !== 'object' || v === null) return undefined;
  const link = v as Partial<ChainLink>;
  if (typeof link.id !== 'string' || typeof link.index !== 'number' || !Array.isArray(link.steps)) return undefined;
  if (!link.steps.every((s: unknown) => typeof s === 'object' && s !== null && typeof (s as StepSpec).name === 'string')) return undefined;
  return link as ChainLink;
}

/** A group member's continuation: its workflow, its place, the group's size, and the chord's callback. */
export interface GroupLink {
  readonly kind: 'group';
  readonly id: string;
  readonly index: number;
  readonly size: number;
  readonly callback?: StepSpec & FlowParent;
  /** A flow child: what its failure does to its parent (default failParent). */
  readonly policy?: ChildPolicy;
}

/** What a flow child's failure does to its parent (as BullMQ's flow options). */
export type ChildPolicy = 'failParent' | 'ignore' | 'continue';

/** A flow parent, enqueued when its children ended: its own args, and its own place in its parent. */
export interface FlowParent {
  readonly flow?: true;
  readonly args?: readonly unknown[];
  readonly parentLink?: GroupLink;
  /** A group inside a chain: the chain's continuation the callback (its next step) carries. */
  readonly chain?: ChainLink;
}

/** The meta key under which a flow parent receives its children's outcomes. */
export const CHILDREN_META = 'qtasks.children';

/** One child's outcome, as `ctx.childResults()` lists them (in the order the children were given). */
export interface ChildResult {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly returning?: unknown;
  readonly error?: { readonly name: string; readonly message: string; readonly code?: string };
}

export function memberId(link: Pick<GroupLink, 'id'>, index: number): string {
  return `${link.id}.m${index}`;
}

export function groupLinkOf(meta: Readonly<Record<string, unknown>> | undefined): GroupLink | undefined {
  const v = meta?.[WORKFLOW_META];
  if (typeof v !== 'object' || v === null) return undefined;
  const link = v as Partial<GroupLink>;
  if (link.kind !== 'group' || typeof link.id !== 'string' || typeof link.index !== 'number' || typeof link.size !== 'number') return undefined;
  if (link.callback !== undefined && typeof link.callback?.name !== 'string') return undefined;
  return link as GroupLink;
}
