export * from './prior-attention.js';
export * from './lru.js';
