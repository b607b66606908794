export * from './metrics.js';
export * from './splits.js';
export * from './evaluate.js';
export * from './fusion-fit.js';
