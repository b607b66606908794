/**
 * The shapes every part of AdaFusion passes around: ingestion produces them, fitting,
 * prediction, evaluation and reports consume them. Pure data, row-major typed arrays.
 */

/** One slide's tiles from one foundation model, as read from an h5 or safetensors file. */
export interface SlideFeatures {
  /** Tiles. */
  n: number;
  /** Feature dimension of the model. */
  dim: number;
  /** n × dim, row-major. */
  features: Float32Array;
  /** n × 2 (x, y) tile coordinates, row-major, in the file's pixel units. */
  coords: Float64Array;
}

/** A model of the cohort: its name (UNI, CONCH, …) and feature dimension. */
export interface ModelSpec {
  name: string;
  dim: number;
}

/** One slide with every model's features aligned by coords: row t of each model is the same tile. */
export interface AlignedSlide {
  id: string;
  n: number;
  /** n × 2, the shared tile coordinates (sorted by y, then x). */
  coords: Float64Array;
  /** Per model, in the cohort's model order: n × models[m].dim. */
  features: Float32Array[];
}

export type TaskKind = 'classification' | 'regression';

/** Slide-level class labels (classification) as class indices into `classes`. */
export interface ClassificationLabels {
  kind: 'classification';
  classes: string[];
  /** slide id → class index. */
  bySlide: Map<string, number>;
}

/** Tile-level targets (spatial gene expression): per slide an n × genes matrix aligned with the slide's tiles. */
export interface RegressionTargets {
  kind: 'regression';
  genes: string[];
  /** slide id → n × genes, row t = tile t of the aligned slide. */
  bySlide: Map<string, Float32Array>;
}

export type Labels = ClassificationLabels | RegressionTargets;

/**
 * A cohort in memory or streamed: the models, the slide ids, and a loader for one aligned slide.
 * Large cohorts (200 slides × 2k tiles × 3k dims = 5 GB) are never held whole.
 */
export interface Cohort {
  models: ModelSpec[];
  slideIds: string[];
  labels: Labels;
  loadSlide(id: string): Promise<AlignedSlide>;
}
