/** `qtasks/testing`: conformance suites for broker, storage and global-config plugins, and test helpers. */
export { brokerConformance, type BrokerTarget, type ProcessTarget } from './broker.contract.js';
export { startWorkerProcess, type WorkerProcess } from './crash-harness.js';
export { storageConformance, type StorageTarget } from './storage.contract.js';
export { globalConfigConformance, type GlobalConfigTarget } from './global-config.contract.js';
export { gate, hangingTask, sleep, uniqueName, waitUntil } from './helpers.js';
export { controlConformance, type ControlTarget } from './control.contract.js';
