export * from './request.js';
export * from './condition.js';
export * from './generate.js';
export * from './denoiser.js';
export * from './weights-file.js';
export * from './runtime.js';
