/**
 * What the parts of the broker conformance suite share: the target an author describes and the
 * app factory of one suite run. The tests live in files named for what they prove.
 */
import type { QueueTasks } from '../../core/app.js';
import type { Config } from '../../core/config.js';
import type { Plugin } from '../../core/plugin.js';

/** Where a child process finds the plugins of a target: a module and one of its exports. */
export interface ProcessTarget {
  /** Absolute path (or file: URL) of the module. */
  readonly module: string;
  /** The export: a function `(appName: string) => Plugin[]`, like `BrokerTarget.plugins`. */
  readonly export: string;
  /** Node arguments the child needs to load the module, e.g. `['--import', 'tsx']` for TypeScript. */
  readonly execArgv?: readonly string[];
}

export interface BrokerTarget {
  /** Shown in test names. */
  readonly name: string;
  /**
   * Plugins for one app. Apps built with the same `appName` must share queues and records, as the
   * producer and the workers of one app do across processes.
   */
  plugins(appName: string): Plugin[];
  /** Config for every app of the suite (merged over the suite's own short leases). */
  readonly config?: Partial<Config>;
  /** Puts `payload` where a task message should be, on `queue` of app `appName`. */
  injectMalformed(appName: string, queue: string, payload: string): Promise<void>;
  /** Removes what the apps of one test left behind (keys, queues). */
  cleanup?(appNames: readonly string[]): Promise<void>;
  /**
   * The same plugins, loadable in a child process (a broker whose state outlives a process: a
   * server). Enables the crash harness, competing worker processes and the fencing test; an
   * in-process broker (memory) leaves it out.
   */
  readonly process?: ProcessTarget;
  /**
   * Whether the message of task `id` of app `appName` is held durably, checked through a second,
   * independent connection (not the plugin's): publish must resolve only once it is.
   */
  durable?(appName: string, id: string): Promise<boolean>;
  /**
   * Guarantees the backend cannot give, each with the reason (docs say so too): the suite does
   * not register their tests (a run never shows a skip, which would read as a missing server). `priorityAcrossQueues`: a worker consuming several queues takes them in priority
   * order across the queues, not per queue. `leaseTakeover`: a delivery whose worker is alive but
   * blocked past `leaseMs` goes to another worker (a broker without time leases keeps it with
   * its connection).
   */
  readonly lacks?: Partial<Record<'priorityAcrossQueues' | 'leaseTakeover', string>>;
}

/** What the tests of one suite run get. */
export interface SuiteContext {
  readonly target: BrokerTarget;
  /** The suite's base config: short leases and retry delays. */
  readonly base: Partial<Config>;
  /** An app of the target; stopped and cleaned up after each test. */
  makeApp(name: string, config?: Partial<Config>): QueueTasks;
}
