/**
 * `qtasks/nestjs`: qtasks as a NestJS module. Needs `@nestjs/common`, `@nestjs/core` and
 * `reflect-metadata` (optional peers: only this entry point loads them). See docs/integrations.md.
 */
export { QtasksModule, QtasksFeatureModule, type QtasksModuleAsyncOptions, type QtasksModuleOptions } from './module.js';
export { InjectApp, InjectTask, Task, type MethodKeys, type NestTaskOptions, type TaskArgs, type TaskRef } from './decorators.js';
export { NEST_LOGGER_PLUGIN, nestLogger } from './nest-logger.js';
export { DEFAULT_REGISTRATION, TASK_METADATA, getAppToken, getTaskToken, type TaskMetadata } from './tokens.js';
