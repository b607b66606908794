export * from './cosine-head-graph.js';
export * from './evaluation-data.js';
export * from './evaluate-head.js';
