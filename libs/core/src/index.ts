export * from './errors.js';
export * from './config.js';
export * from './worker.js';
export * from './byte-limit.js';
