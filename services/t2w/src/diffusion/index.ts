export * from './schedule.js';
export * from './predictions.js';
export * from './steps.js';
export * from './samplers.js';
