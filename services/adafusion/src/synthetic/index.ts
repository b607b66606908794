export { makeSyntheticCohort, slideIdOf, type SyntheticCohort, type SyntheticCohortOptions, type SyntheticTruth } from './generator.js';
export { writeSyntheticCohort, type WriteSyntheticOptions, type WrittenFile, type WrittenSyntheticCohort } from './write.js';
