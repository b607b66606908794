export * from './tensor.js';
export * from './float16.js';
export * from './dtype.js';
export * from './rng.js';
export * from './linalg.js';
export * from './matmul-naive.js';
export * from './matmul.js';
export type { MatrixData } from './matrix-checks.js';
export * from './kmeans.js';
