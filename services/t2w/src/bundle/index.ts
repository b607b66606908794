export * from './bundle-schema.js';
export * from './blocks.js';
export * from './denoiser-weights.js';
export * from './denoiser-graph.js';
export * from './fixture-bundle.js';
export * from './load-bundle.js';
export * from './bundle-registry.js';
