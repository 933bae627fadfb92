/** `qtasks/host`: run the workers of several apps in one process (what `qtasks run` does). */
export { WorkerHost, WorkerHostError, runWorkers, type HostFailure, type HostedApp, type RunWorkersOptions, type SignalSource, type WorkerHostOptions } from './worker-host.js';
