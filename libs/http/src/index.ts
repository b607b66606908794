export { createService, type Service, type ServiceOptions, type ServiceConfig, type ListenOptions } from './service.js';
export {
  HttpReply,
  reply,
  queryBoolean,
  isJsonContentType,
  JSON_CONTENT_TYPE,
  PROBLEM_CONTENT_TYPE,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type ResponseSpec,
  type RouteContext,
  type RouteSpec,
  type RouteDefinition,
} from './route.js';
export {
  STATUS_BY_CODE,
  DEFAULT_RETRY_AFTER_SECONDS,
  problemSchema,
  fieldIssueSchema,
  problemType,
  makeProblem,
  problemFromError,
  issuesFromZod,
  type Problem,
  type ProblemInit,
  type ProblemResponse,
} from './problem.js';
export { type ReadinessCheck } from './readiness.js';
export { REQUEST_ID_HEADER } from './request-id.js';
export { UNMATCHED_ROUTE } from './metrics.js';
export { parsePathTemplate, type PathTemplate } from './path-template.js';
export { generateOpenApi, type OpenApiDocument, type OpenApiOperation, type OpenApiSource, type JsonSchema } from './openapi.js';
export {
  renderOpenApiYaml,
  discoverServices,
  writeOpenApiFiles,
  checkOpenApiFiles,
  type OpenApiServiceEntry,
  type OpenApiCheckResult,
} from './openapi-files.js';
export {
  JobRunner,
  jobRecordSchema,
  interruptedProblem,
  JOB_STATUSES,
  type JobStatus,
  type JobRecord,
  type JobContext,
  type JobHandler,
  type JobRunnerOptions,
  type ListJobsOptions,
  type WaitOptions,
  type RegisterOptions,
} from './jobs.js';
export { summarizeInput, DEFAULT_SUMMARY_LIMITS, type SummaryLimits } from './input-summary.js';
export { newJobId, isJobId } from './job-id.js';
export {
  registerJobRoutes,
  startJob,
  jobStartQuery,
  jobStartResponses,
  jobLocation,
  DEFAULT_WAIT_CAP_MS,
  type StartJobOptions,
} from './job-routes.js';
export { registerArtifactRoutes, artifactSchema, sendArtifact, type ArtifactRoutesOptions } from './artifact-routes.js';
export { startService, serviceOpenApi, type ServiceContext, type ServiceDefinition, type RunningService, type StartOptions } from './runtime.js';
export {
  runTaskInWorker,
  serveTasks,
  type TaskWorkerData,
  type TaskWorkerMessage,
  type TaskHooks,
  type TaskContext,
  type TaskHandler,
  type ServeTasksOptions,
} from './task-worker.js';
