/** The four broker set-ups the workflow tests run on, each with unique app names and cleanup. */
import type { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { QueueTasks } from '../../core/app.js';
import type { WorkflowStep, WorkflowView } from '../../core/index.js';
import type { Plugin } from '../../core/plugin.js';
import { memory } from '../../plugins/memory/index.js';
import { redis } from '../../plugins/redis/index.js';
import { RabbitFixture } from '../plugins/rabbitmq-helpers.js';
import { REDIS_URL, adminClient, deleteAppKeys } from '../plugins/redis-helpers.js';
import { waitUntil } from '../contracts/helpers.js';

export interface BrokerSetup {
  readonly name: string;
  plugins(app: string): Plugin[];
}

export interface Brokers {
  readonly setups: readonly BrokerSetup[];
  /** A unique app name, remembered for cleanup. */
  appName(tag: string): string;
  cleanup(): Promise<void>;
}

/**
 * The set-ups plus an app maker for one test file: every app made is stopped, and every app
 * name cleaned up, after the file's tests (registers the afterAll itself).
 */
export function workflowApps(concurrency?: number): { brokers: Brokers; makeApp(name: string, setup: BrokerSetup, workers?: number): QueueTasks } {
  const brokers = workflowBrokers();
  const apps: QueueTasks[] = [];
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.stop()));
    await brokers.cleanup();
  });
  const makeApp = (name: string, setup: BrokerSetup, workers = concurrency): QueueTasks => {
    const config = workers === undefined ? { logLevel: 'silent' as const } : { logLevel: 'silent' as const, concurrency: workers };
    const app = new QueueTasks({ name, plugins: setup.plugins(name), config, globals: false });
    apps.push(app);
    return app;
  };
  return { brokers, makeApp };
}

export function workflowBrokers(): Brokers {
  const fx = new RabbitFixture();
  const names: string[] = [];
  let admin: Redis | undefined;
  const setups: BrokerSetup[] = [
    { name: 'memory', plugins: () => [memory()] },
    { name: 'redis', plugins: () => [redis({ url: REDIS_URL })] },
    // Each queue on its own hash tag: no atomic join (the kernel's scan join), lookups by id across queues.
    { name: "redis, placement 'queue'", plugins: () => [redis({ url: REDIS_URL, placement: 'queue' })] },
    { name: 'rabbitmq + redis storage', plugins: (app) => [fx.plugin(app), redis({ url: REDIS_URL, broker: false })] },
  ];
  return {
    setups,
    appName(tag) {
      const n = `wf-${tag}-${process.pid}-${names.length}-${Math.random().toString(36).slice(2, 7)}`;
      names.push(n);
      return n;
    },
    async cleanup() {
      admin ??= await adminClient();
      await fx.cleanup(names);
      await deleteAppKeys(admin, names);
      await fx.close();
      await admin.quit();
    },
  };
}

const UNSETTLED = new Set(['new', 'process', 'retry']);

function flat(steps: readonly WorkflowStep[]): WorkflowStep[] {
  return steps.flatMap((s) => [s, ...flat(s.children ?? [])]);
}

/**
 * The view of an ended workflow once every step is settled. A step moves the workflow on before
 * its own outcome is stored (docs/workflows.md), so the workflow can end, and `app.wait` return,
 * an instant before the step that enqueued its last part shows its outcome.
 */
export async function settledView(app: QueueTasks, id: string): Promise<WorkflowView> {
  return waitUntil(async () => {
    const view = await app.workflow(id);
    return view !== undefined && !flat(view.steps).some((s) => UNSETTLED.has(s.status)) ? view : undefined;
  }, `every step of workflow ${id} settled`, 15_000);
}
