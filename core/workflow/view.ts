/**
 * `app.workflow(id)`: each step's state, read from what the steps already store. Every step's id
 * derives from the workflow's (`<wf>.<i>` for a chain's steps, `<id>.m<j>` for a group member or a
 * flow child, the workflow's own id for its last step, callback or root), and each step's record
 * keeps its message's meta, which holds its continuation: step 0 of a chain lists every step, a
 * group member its group's size and callback, a flow child its parent (and, through it, every
 * ancestor). No index is written at submit; a step not enqueued yet has no record and is listed
 * from its siblings' continuations.
 */
import type { QueueTasks } from '../app.js';
import { TaskStatus, isFinal, type TaskRecord, type TaskStatusName } from '../record.js';
import { CHILDREN_META, GROUP_NAME, firstStepId, groupLinkOf, linkOf, memberId, stepId, type ChainLink, type GroupLink } from './link.js';

/** A step's status: a task status, or `pending` (not enqueued yet) or `skipped` (never enqueued: the workflow ended first). */
export type WorkflowStepStatus = TaskStatusName | 'pending' | 'skipped';

/** One step of a workflow. */
export interface WorkflowStep {
  /** Its task id (`app.get(id)` has the full record), or a group step's derived id. */
  readonly id: string;
  /** Its task's name (`group` for a group inside a chain). */
  readonly name: string;
  readonly status: WorkflowStepStatus;
  readonly attempts: number;
  /** The result as JSON, cut to 200 characters (success only). */
  readonly result?: string;
  /** The error message, or the cancel / dead reason. */
  readonly error?: string;
  /** A flow parent's children, a chord callback's group members, or a group step's members: they run before it. */
  readonly children?: readonly WorkflowStep[];
}

export type WorkflowKind = 'chain' | 'group' | 'chord' | 'flow';

/** What `app.workflow(id)` answers. */
export interface WorkflowView {
  readonly id: string;
  readonly kind: WorkflowKind;
  /** The workflow's record's status once it ended; before: `process` once a step began, else `new`. */
  readonly status: TaskStatusName;
  readonly result?: string;
  readonly error?: string;
  /** In run order: a chain's steps, a group's members; a chord's callback or a flow's root (with children). */
  readonly steps: readonly WorkflowStep[];
}

const SUMMARY = 200;
const DEPTH = 64;
const BATCH = 256;

type Get = (id: string) => Promise<TaskRecord | undefined>;

/** Reads the view of workflow `id`; undefined when no step of it is stored (unknown or expired). */
export async function workflowView(app: QueueTasks, id: string): Promise<WorkflowView | undefined> {
  const get: Get = (x) => app.get(x);
  const own = await get(id);
  // A chain whose first step is a group has no step 0 record: its members carry the chain.
  const chain = linkOf((await get(firstStepId(id)))?.meta) ?? linkOf(own?.meta) ?? groupLinkOf((await get(memberId({ id: firstStepId(id) }, 0)))?.meta)?.callback?.chain;
  const ended = own !== undefined && isFinal(own.status);
  let kind: WorkflowKind;
  let steps: WorkflowStep[];
  if (chain !== undefined && chain.id === id) {
    kind = 'chain';
    steps = await chainSteps(get, chain, ended);
  } else {
    const link = await childLink(get, id, 0);
    if (link === undefined) return undefined;
    const members = await groupSteps(get, id, link, ended, link.callback?.flow === true, 0);
    if (link.callback === undefined) {
      kind = 'group';
      steps = members;
    } else {
      kind = link.callback.flow === true ? 'flow' : 'chord';
      steps = [stepOf(id, link.callback.name, own, ended, members)];
    }
  }
  const status = own !== undefined && isFinal(own.status) ? own.status : began(steps) ? TaskStatus.PROCESS : TaskStatus.NEW;
  return { id, kind, status, ...(ended ? summary(own) : {}), steps };
}

async function chainSteps(get: Get, link: ChainLink, ended: boolean): Promise<WorkflowStep[]> {
  return Promise.all(
    link.steps.map(async (spec, i) => {
      const id = stepId(link, i);
      const record = await get(id);
      if (spec.group === undefined) return stepOf(id, spec.name, record, ended);
      // A group whose member list the continuation left out (link.ts trimmed): from its members' own links.
      const below = spec.group.length === 0 ? await childLink(get, id, 0) : undefined;
      const children =
        below !== undefined
          ? await groupSteps(get, id, below, ended, false, 0)
          : await many(get, spec.group.map((_, j) => memberId({ id }, j))).then((members) => spec.group!.map((m, j) => stepOf(memberId({ id }, j), m.name, members[j], ended)));
      return stepOf(id, GROUP_NAME, record ?? derived(children), ended, children);
    }),
  );
}

/** The members (children) of `id`, whose continuation is `link` (taken from its child 0). */
async function groupSteps(get: Get, id: string, link: GroupLink, ended: boolean, flow: boolean, depth: number): Promise<WorkflowStep[]> {
  const ids = Array.from({ length: link.size }, (_, j) => memberId({ id }, j));
  const records = await many(get, ids);
  return Promise.all(
    ids.map(async (cid, j) => {
      const r = records[j];
      // A flow child is a parent if it was enqueued with its children's outcomes, or, not enqueued
      // yet, if children of its own carry it as their parent.
      if (!flow || depth >= DEPTH || (r !== undefined && r.meta?.[CHILDREN_META] === undefined)) return stepOf(cid, r?.name ?? '?', r, ended);
      const below = await childLink(get, cid, depth + 1);
      if (below === undefined) return stepOf(cid, r?.name ?? '?', r, ended);
      const children = await groupSteps(get, cid, below, ended, true, depth + 1);
      return stepOf(cid, below.callback?.name ?? r?.name ?? '?', r, ended, children);
    }),
  );
}

/** The continuation the children of `id` carry, read from child 0 (or, not enqueued yet, from its own child 0). */
async function childLink(get: Get, id: string, depth: number): Promise<GroupLink | undefined> {
  const first = memberId({ id }, 0);
  const link = groupLinkOf((await get(first))?.meta);
  if (link !== undefined && link.id === id) return link;
  if (depth >= DEPTH) return undefined;
  const below = await childLink(get, first, depth + 1);
  const parent = below?.callback?.parentLink;
  return parent !== undefined && parent.id === id ? parent : undefined;
}

function stepOf(id: string, name: string, record: TaskRecord | Pick<TaskRecord, 'status' | 'attempts'> | undefined, ended: boolean, children?: WorkflowStep[]): WorkflowStep {
  const status: WorkflowStepStatus = record?.status ?? (ended ? 'skipped' : 'pending');
  return { id, name, status, attempts: record?.attempts ?? 0, ...(record !== undefined && 'id' in record ? summary(record) : {}), ...(children !== undefined ? { children } : {}) };
}

function summary(record: TaskRecord): { result?: string; error?: string } {
  if (record.status === TaskStatus.SUCCESS) {
    const json = JSON.stringify(record.returning ?? null);
    return { result: json.length > SUMMARY ? `${json.slice(0, SUMMARY - 1)}…` : json };
  }
  const error = record.error?.message ?? record.reason;
  return error !== undefined ? { error } : {};
}

/** A group step without a record of its own: success once every member succeeded, error once all ended and one failed (cancel if they were only cancelled). */
function derived(children: readonly WorkflowStep[]): Pick<TaskRecord, 'status' | 'attempts'> | undefined {
  if (!began(children)) return undefined;
  const done = children.every((c) => c.status !== 'pending' && c.status !== 'skipped' && isFinal(c.status));
  if (!done) return { status: TaskStatus.PROCESS, attempts: 0 };
  if (children.every((c) => c.status === TaskStatus.SUCCESS)) return { status: TaskStatus.SUCCESS, attempts: 0 };
  // Failed members make it an error; members only cancelled (a cancelled workflow), a cancel.
  const failed = children.some((c) => c.status === TaskStatus.ERROR || c.status === TaskStatus.DEAD);
  return { status: failed ? TaskStatus.ERROR : TaskStatus.CANCEL, attempts: 0 };
}

function began(steps: readonly WorkflowStep[]): boolean {
  return steps.some((s) => (s.status !== 'pending' && s.status !== 'skipped' && s.status !== TaskStatus.NEW) || (s.children !== undefined && began(s.children)));
}

async function many(get: Get, ids: readonly string[]): Promise<Array<TaskRecord | undefined>> {
  const out: Array<TaskRecord | undefined> = [];
  for (let i = 0; i < ids.length; i += BATCH) out.push(...(await Promise.all(ids.slice(i, i + BATCH).map(get))));
  return out;
}
