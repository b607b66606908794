export { cohortFromManifest, type CohortOptions } from './cohort.js';
export { parseCsv, type CsvRecord } from './csv.js';
export { labelsFromJson, parseLabelsCsv, parseTargetsCsv, type SlideLabels, type TileTargets } from './labels.js';
export { featureSetManifestSchema, type FeatureSetManifest } from './manifest.js';
export { refKind, type RefKind, type ResolveRef } from './refs.js';
export { featureSetRequestSchema, fileRefSchema, jsonPath, type FeatureSetRequest } from './schema.js';
export { orderTargets, readTileTargets } from './targets.js';
export { sortClasses, validateFeatureSet, type ValidateFeatureSetOptions } from './validate.js';
