export * from './hungarian.js';
export * from './align.js';
