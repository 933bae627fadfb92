/** `qtasks/testing`: conformance suites for broker and storage plugins, and test helpers. */
export { brokerConformance, type BrokerTarget } from './broker.contract.js';
export { storageConformance, type StorageTarget } from './storage.contract.js';
export { gate, sleep, uniqueName, waitUntil } from './helpers.js';
export { controlConformance, type ControlTarget } from './control.contract.js';
