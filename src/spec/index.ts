// The spec module's public surface.
export { loadSpec, type LoadResult, type LoadOptions } from './load.js';
export { DEFAULT_SCORING, SYSTEM_COLUMNS, PROFILES_TABLE } from './defaults.js';
export { parseDuration, formatDuration } from './duration.js';
export { snakeCase } from './names.js';
export type * from './types.js';
