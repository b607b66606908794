export * from './interpret.js';
export * from './svg.js';
export * from './png.js';
export * from './report.js';
