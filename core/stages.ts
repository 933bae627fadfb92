/**
 * Stage constants for ordering taps (tapable runs lower stages first). Use these rather than
 * registration order; `before` is for naming one specific plugin dependency.
 */
export const STAGE_FIRST = -100;
export const STAGE_DEFAULT = 0;
export const STAGE_LAST = 100;

/**
 * `lifecycle.start` taps: connections first, then things that use them.
 * `lifecycle.stop` runs its taps in the reverse order, so connections close last.
 */
export const START_STAGE_CONNECTIONS = -100;
export const START_STAGE_SERVICES = 0;
export const START_STAGE_CONSUMERS = 100;
