export * from './types.js';
export { mergeModule } from './merge.js';
export { fidelity, measureFidelity, type Fidelity } from './fidelity.js';
export { MAX_MERGE_RANK, DEFAULT_DENSITY } from './options.js';
export { denseCombine } from './dense.js';
export { buildMsuPool, type MsuPool } from './msu.js';
export { truncatedSumOfProducts, type LowRank } from './factored.js';
export { randomizedTruncatedSvd } from './rsvd.js';
export { keepTopMagnitude } from './select.js';
