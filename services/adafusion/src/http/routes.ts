/**
 * The AdaFusion endpoints: feature sets (registered synchronously: validation reads every file
 * once), models (fit jobs), model records and reports with plots, predictions and fusions (jobs).
 * Everything a request names — feature set, model, config fields, slide models — is checked
 * before a job is queued, so bad input is answered at once with a problem naming the field and
 * nothing is written. Fits, predictions and dominance plots run in a task worker; a fit with text
 * prompts opens the configured text encoder there (the route only checks that one loaded).
 */
import { invalidInput, notFound } from '@weightsmith/core';
import { jobStartQuery, jobStartResponses, reply, runTaskInWorker, startJob, type Service, type ServiceContext } from '@weightsmith/http';
import type { FeatureSetManifest } from '../cohort/index.js';
import { parseFitConfig, type FitConfig } from '../model/index.js';
import { buildModelReport, renderContributionPlot } from '../report/index.js';
import type { AdaFusionConfig } from '../service.js';
import type { Producer } from '../pipeline/artifacts.js';
import { loadFeatureSet, registerFeatureSet } from '../pipeline/feature-sets.js';
import type { FitTaskInput } from '../pipeline/fit-task.js';
import { loadModelRecord, phenotypeAlphaOf, slideSummariesOf, type ModelRecord } from '../pipeline/model-record.js';
import type { DominancePlotInput, PlotResult } from '../pipeline/plot-task.js';
import { checkRequestSlides, checkSameModels, type PredictionTaskInput, type SlidesTaskInput } from '../pipeline/predict-task.js';
import { storeRefResolver } from '../pipeline/refs.js';
import { TASK_WORKER_MODULE, TASKS } from '../worker/tasks.js';
import type { TextEncoderStatus } from './text-encoder-status.js';
import {
  featureSetBodySchema,
  featureSetManifestResponseSchema,
  featureSetSummarySchema,
  fitResultSchema,
  fusionRequestSchema,
  fusionResultSchema,
  idParams,
  modelRecordSchema,
  modelReportSchema,
  modelRequestSchema,
  predictionRequestSchema,
  predictionResultSchema,
  reportQuery,
} from './schemas.js';

/** What a fit needs that the request can get wrong and the feature set can tell: model names, d against every used model's dim. */
function checkConfigForFeatureSet(config: FitConfig, manifest: FeatureSetManifest): void {
  const names = manifest.models.map((m) => m.name);
  const known = (name: string, field: string): void => {
    if (!names.includes(name)) throw invalidInput(field, `'${name}' is not a model of the feature set (${names.join(', ')})`);
  };
  if (config.model !== undefined) known(config.model, 'body.config.model');
  if (config.anchor !== undefined) known(config.anchor, 'body.config.anchor');
  const used = config.mode === 'single' ? manifest.models.filter((m) => m.name === config.model) : manifest.models;
  for (const m of used) {
    if (config.d > m.dim) throw invalidInput('body.config.d', `d = ${config.d} exceeds the feature dim of model '${m.name}' (${m.dim}); choose d ≤ ${m.dim}`);
  }
}

/** Exactly one of `featureSet` and `slides`, the model, and the slides' models, checked before queueing. */
async function checkSlidesRequest(ctx: ServiceContext, body: { model: string; featureSet?: string | undefined; slides?: SlidesTaskInput['slides'] }): Promise<void> {
  if ((body.featureSet === undefined) === (body.slides === undefined)) {
    const field = body.featureSet === undefined ? 'body.slides' : 'body.featureSet';
    throw invalidInput(field, 'give exactly one of featureSet (a registered feature set) and slides (slides with their feature files)');
  }
  const record = await loadModelRecord(ctx.artifacts, body.model, 'body.model');
  if (body.featureSet !== undefined) {
    const manifest = await loadFeatureSet(ctx.artifacts, body.featureSet, 'body.featureSet');
    checkSameModels(record, manifest.models, 'body.featureSet');
  } else {
    checkRequestSlides(record, body.slides!);
  }
}

function modelReport(id: string, record: ModelRecord) {
  const modelNames = record.models.map((m) => m.name);
  const { interpretation: it } = record;
  const report = buildModelReport({
    modelId: id,
    task: record.task,
    modelNames,
    phenotypeNames: it.phenotypes,
    ...(record.classes ? { classes: record.classes } : {}),
    ...(record.genes ? { genes: record.genes } : {}),
    validation: { ...record.validation, loss: record.validation.loss ?? Number.NaN, metric: record.validation.metric ?? Number.NaN },
    perPhenotype: phenotypeAlphaOf(it.byPhenotype, modelNames.length),
    perPhenotypeSoft: phenotypeAlphaOf(it.byPhenotypeSoft, modelNames.length),
    perSlide: slideSummariesOf(record),
  });
  // The evaluation was summarised when the model was fitted (its splits' slide lists are not kept).
  return { ...report, metrics: { ...report.metrics, evaluation: record.evaluation } };
}

export function registerAdaFusionRoutes(service: Service, ctx: ServiceContext<AdaFusionConfig>, producer: Producer, textEncoder: TextEncoderStatus): void {
  const { config } = ctx;
  const worker = { store: config, intraOpNumThreads: config.ORT_INTRA_OP_THREADS };
  const limits = { maxFeatureBytes: config.ADAFUSION_MAX_FEATURE_BYTES, maxTilesPerSlide: config.ADAFUSION_MAX_TILES_PER_SLIDE };

  for (const task of [TASKS.fit, TASKS.prediction, TASKS.fusion]) {
    ctx.jobs.register<unknown, unknown>(task, (input, job) =>
      runTaskInWorker(TASK_WORKER_MODULE, { ...worker, task, input }, { progress: (f, m) => job.progress(f, m), signal: job.signal }),
    );
  }

  service.route({
    method: 'post',
    path: '/v1/feature-sets',
    operationId: 'registerFeatureSet',
    summary: 'Register a cohort: slides × models → feature files, with labels or tile targets',
    description:
      'Every file is read once and checked (format, features and coords present, no NaN, no empty slide, dims equal across slides), models are aligned per slide by coords, ' +
      'labels are matched to slides (no unknown slides, at least two classes, two slides per class). Every problem is answered at once in one problem document; nothing is stored unless all is well.',
    tags: ['feature-sets'],
    body: featureSetBodySchema,
    responses: {
      201: { description: 'Registered', schema: featureSetSummarySchema },
      200: { description: 'The same feature set was already registered', schema: featureSetSummarySchema },
    },
    handler: async ({ body }) => {
      const { created, summary } = await registerFeatureSet(body, ctx.artifacts, storeRefResolver(ctx.artifacts), { ...limits, maxSlides: config.ADAFUSION_MAX_SLIDES }, producer);
      return reply(created ? 201 : 200, summary);
    },
  });

  service.route({
    method: 'get',
    path: '/v1/feature-sets/{id}',
    operationId: 'getFeatureSet',
    summary: "A feature set's manifest: models with dims, slides with refs, tiles and labels, counts",
    tags: ['feature-sets'],
    params: idParams,
    responses: { 200: { description: 'The manifest', schema: featureSetManifestResponseSchema }, 404: { description: 'No such feature set' } },
    handler: ({ params }) => loadFeatureSet(ctx.artifacts, params.id, 'params.id'),
  });

  service.route({
    method: 'post',
    path: '/v1/models',
    operationId: 'fitModel',
    summary: 'Fit an AdaFusion model (or a baseline) on a feature set (job)',
    description:
      'Closed-form compress & align, phenotype prompts, adaptive gate and head fitted with tfjs (AdamW, early stopping, seeded); exported to ONNX; the gate is interpreted over the feature set; ' +
      'text prompts (`config.context.kind: text`) are embedded by the configured text encoder (ADAFUSION_TEXT_ENCODER_DIR or _PREFIX; 400 without one, 503 while it is not loaded), recorded by its id, and name the phenotypes; ' +
      'optionally evaluated on random 70/30 splits against the baselines. Answers 202 with the job, or with `?wait=true` 200 with the result. Same request and seed, same artifact ids.',
    tags: ['models'],
    query: jobStartQuery,
    body: modelRequestSchema,
    responses: jobStartResponses(fitResultSchema, 'The model, its weights and ONNX artifacts, validation and evaluation (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      const manifest = await loadFeatureSet(ctx.artifacts, body.featureSet, 'body.featureSet');
      const fitConfig = parseFitConfig(body.config, 'body.config');
      checkConfigForFeatureSet(fitConfig, manifest);
      const encoder = fitConfig.context.kind === 'text' ? textEncoder.requireLoaded('body.config.context.kind') : undefined;
      const input: FitTaskInput = {
        featureSet: body.featureSet,
        config: fitConfig,
        evaluation: body.evaluation,
        producer,
        maxFeatureBytes: limits.maxFeatureBytes,
        ...(encoder ? { textEncoder: encoder.source } : {}),
      };
      return startJob(ctx.jobs, TASKS.fit, input, { wait: query.wait === true, signal, requestId });
    },
  });

  service.route({
    method: 'get',
    path: '/v1/models/{id}',
    operationId: 'getModel',
    summary: 'A model record: feature set, configuration, weights and ONNX ids, validation, history, interpretation, evaluation',
    tags: ['models'],
    params: idParams,
    responses: { 200: { description: 'The record', schema: modelRecordSchema }, 404: { description: 'No such model' } },
    handler: ({ params }) => loadModelRecord(ctx.artifacts, params.id, 'params.id'),
  });

  service.route({
    method: 'get',
    path: '/v1/models/{id}/report',
    operationId: 'getModelReport',
    summary: "A model's report (JSON), or one of its plots (SVG/PNG)",
    description:
      'Without `plot`: metrics (validation; evaluation mean ± std per candidate), per-phenotype and per-slide model weights, plot links. ' +
      '`?plot=contribution&format=svg`: mean gate weight per model by phenotype. `?plot=dominance&slide=<id>&format=svg|png`: which model dominates each tile of a slide of the feature set.',
    tags: ['models'],
    params: idParams,
    query: reportQuery,
    responses: {
      200: { description: 'The report; with `plot`, the plot as image/svg+xml or image/png', schema: modelReportSchema },
      404: { description: 'No such model, or the slide is not in its feature set' },
    },
    handler: async ({ params, query, res, signal }) => {
      const record = await loadModelRecord(ctx.artifacts, params.id, 'params.id');
      if (query.plot === undefined) return modelReport(params.id, record);
      const modelNames = record.models.map((m) => m.name);
      let plot: PlotResult;
      if (query.plot === 'contribution') {
        if (query.format !== 'svg') throw invalidInput('query.format', `the contribution plot is rendered as svg only, not ${query.format}`);
        if (query.slide !== undefined) throw invalidInput('query.slide', 'slide only applies to plot=dominance');
        const { interpretation: it } = record;
        plot = renderContributionPlot(phenotypeAlphaOf(it.byPhenotype, modelNames.length), modelNames, it.phenotypes, 'svg');
      } else {
        if (query.slide === undefined) throw invalidInput('query.slide', 'plot=dominance needs slide, the id of a slide of the model\'s feature set');
        const manifest = await loadFeatureSet(ctx.artifacts, record.featureSet, 'params.id');
        if (!manifest.slides.some((s) => s.id === query.slide)) {
          throw notFound(`slide '${query.slide}' is not in the model's feature set ${record.featureSet}`, 'query.slide');
        }
        const input: DominancePlotInput = { model: params.id, slide: query.slide, format: query.format, maxFeatureBytes: limits.maxFeatureBytes };
        plot = await runTaskInWorker<PlotResult>(TASK_WORKER_MODULE, { ...worker, task: TASKS.dominancePlot, input }, { signal });
      }
      res.status(200).type(plot.contentType).send(typeof plot.body === 'string' ? plot.body : Buffer.from(plot.body.buffer, plot.body.byteOffset, plot.body.byteLength));
      return undefined;
    },
  });

  service.route({
    method: 'post',
    path: '/v1/predictions',
    operationId: 'predict',
    summary: "Predict slides with a model (job): slide answers, the gate's weights, and per-tile scores",
    description:
      'For every slide of a feature set, or of slides given with their feature files: class probabilities (classification) or mean predicted expression (regression), ' +
      'mean gate weight per model and dominant-model tile counts; with `tiles` (default), per slide a safetensors artifact of tile scores.',
    tags: ['predictions'],
    query: jobStartQuery,
    body: predictionRequestSchema,
    responses: jobStartResponses(predictionResultSchema, 'Per-slide predictions (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      await checkSlidesRequest(ctx, body);
      const input: PredictionTaskInput = {
        model: body.model,
        ...(body.featureSet !== undefined ? { featureSet: body.featureSet } : {}),
        ...(body.slides !== undefined ? { slides: body.slides } : {}),
        tiles: body.tiles,
        producer,
        ...limits,
      };
      return startJob(ctx.jobs, TASKS.prediction, input, { wait: query.wait === true, signal, requestId });
    },
  });

  service.route({
    method: 'post',
    path: '/v1/fusions',
    operationId: 'fuse',
    summary: "Fused tile features (job): the gate's per-tile mixture of the models' aligned features, for your own heads",
    tags: ['fusions'],
    query: jobStartQuery,
    body: fusionRequestSchema,
    responses: jobStartResponses(fusionResultSchema, 'Per-slide fused-feature artifacts (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      await checkSlidesRequest(ctx, body);
      const input: SlidesTaskInput = {
        model: body.model,
        ...(body.featureSet !== undefined ? { featureSet: body.featureSet } : {}),
        ...(body.slides !== undefined ? { slides: body.slides } : {}),
        producer,
        ...limits,
      };
      return startJob(ctx.jobs, TASKS.fusion, input, { wait: query.wait === true, signal, requestId });
    },
  });
}

