/** `qtasks`: the kernel's public surface, listed one by one so internals stay internal. */
export { QueueTasks, type AppState, type QueueTasksOptions, type SandboxTaskOptions, type StartOptions } from './app.js';
export { type Dependency, type DependencyOptions, type Resolved, type Scope } from './di/container.js';
export { State } from './di/state.js';
export { BulkAddError, MAX_BULK_ITEMS, type BulkAddOptions, type BulkItem } from './bulk.js';
export { SandboxCrashedError, type SandboxContext, type SandboxKind, type SandboxOptions } from './sandbox/index.js';
export { DEFAULT_CONFIG, resolveConfig, envName, type Config } from './config.js';
export type {
  Broker,
  CancelFound,
  ComponentContext,
  ConsumeOptions,
  Control,
  ControlCapability,
  ControlListPage,
  ControlListQuery,
  DeadLetter,
  DedupRequest,
  FlowLimits,
  QueueClaimLimits,
  ConcurrencyLimit,
  RateLimitSlot,
  Delivery,
  GlobalConfig,
  Limiter,
  ListStatus,
  PublishOptions,
  PublishOutcome,
  QueueCounts,
  RecordWrite,
  GroupJoin,
  ReserveOptions,
  PublishReserveOptions,
  PublishReservation,
  Retention,
  StorageIndex,
  IndexCounts,
  SaveOptions,
  Storage,
  TaskEvent,
  TaskEventType,
  EventGap,
  GlobalSets,
  SubscribeOptions,
  WorkerInfo,
} from './contracts.js';
export { CONTROL_CAPABILITIES } from './contracts.js';
export type { CleanOptions, ListOptions, ListResult, RetryFilter } from './control/plane.js';
export type { EventListenOptions, TaskEventListener, TaskEvents } from './control/events.js';
export type { QueueOptions, QueueRateLimit } from './flow/queues.js';
export {
  ConnectionClosedError,
  ErrorCodes,
  HookError,
  NoRetryError,
  QTasksError,
  RateLimitError,
  RetryLaterError,
  TaskCancelError,
  TaskTimeoutError,
  WaitTimeoutError,
  asQTasksError,
  type ErrorCode,
} from './errors.js';
export type { TaskOutcome } from './executor.js';
export { createHooks, type AttemptRunner, type KernelHooks, type LifecycleContext, type LoggerRequest, type PublishContext } from './hooks.js';
export { LOG_LEVELS, Logger, type LogDestination, type LogFormat, type LogLevel, type LoggerLike, type LoggerOptions } from './logger.js';
export { definePlugin, type Plugin } from './plugin.js';
export {
  FINAL_STATUSES,
  TaskStatus,
  isFinal,
  messageToRecord,
  recordOf,
  validateMessage,
  type RecordFields,
  type TaskErrorInfo,
  type TaskMessage,
  type TaskRecord,
  type TaskStatusName,
} from './record.js';
export { Router, type RouterOptions } from './router.js';
export { STAGE_DEFAULT, STAGE_FIRST, STAGE_LAST, START_STAGE_CONNECTIONS, START_STAGE_CONSUMERS, START_STAGE_SERVICES } from './stages.js';
export { appMain, loggerMain, setAppMain, setLoggerMain } from './state.js';
export {
  TaskHandle,
  sharedTask,
  type AddTaskOptions,
  type DedupOptions,
  type RateLimit,
  type EchoSchemaTaskHandler,
  type EchoSchemaTaskOptions,
  type EchoTaskHandler,
  type EchoTaskOptions,
  type HandleResult,
  type SchemaTaskHandler,
  type SchemaTaskOptions,
  type StoredResult,
  type ErrorClass,
  type MiddlewareAfter,
  type MiddlewareBefore,
  type TaskContext,
  type PlainTaskOptions,
  type TaskDefinition,
  type TaskHandler,
  type TaskOptions,
  type TaskResult,
} from './task.js';
export { TaskCall, type CallOf } from './workflow/call.js';
export { Chord, Group, chord, group, type ChordCallback, type GroupResults, type MemberCall } from './workflow/group.js';
export type { FlowNode } from './workflow/flow.js';
export type { ChildPolicy, ChildResult } from './workflow/link.js';
export type { WorkflowKind, WorkflowStep, WorkflowStepStatus, WorkflowView } from './workflow/view.js';
export type { WorkflowCancel } from './workflow/cancel.js';
export { Chain, chain, type ChainResult, type ChainSteps, type StepHandle, type WorkflowAddOptions } from './workflow/chain.js';
export type { CatchUp, ScheduleDefinition, ScheduleInfo, ScheduleOptions, ScheduleSpec } from './schedule/spec.js';
export type { ArgsSchema, ResultSchema, SchemaInput, SchemaOutput } from './schema.js';
export type { ArgsProblem, JsonChecked, JsonPrimitive, JsonProblem, ResultProblem } from './json-types.js';
