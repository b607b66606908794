import { z } from 'zod';
import { jobRecordSchema, JOB_STATUSES, type JobRecord, type JobRunner } from './jobs.js';
import { HttpReply, PROBLEM_CONTENT_TYPE, queryBoolean, reply, type ResponseSpec } from './route.js';
import type { Service } from './service.js';

/** Where a job's resource lives; `Location` of every 202. */
export const jobLocation = (id: string): string => `/v1/jobs/${id}`;

/** Longest a `?wait=true` request waits before answering 202 anyway (below Node's 300 s cut). */
export const DEFAULT_WAIT_CAP_MS = 120_000;

const jobIdParams = z.object({ id: z.uuid().meta({ description: 'Job id' }) });

/** GET /v1/jobs/{id}, GET /v1/jobs, DELETE /v1/jobs/{id}. */
export function registerJobRoutes(service: Service, runner: JobRunner): void {
  const tags = ['jobs'];
  service.route({
    method: 'get',
    path: '/v1/jobs/{id}',
    operationId: 'getJob',
    summary: 'Status, progress and outcome of a job',
    tags,
    params: jobIdParams,
    responses: { 200: { description: 'The job', schema: jobRecordSchema }, 404: { description: 'No such job' } },
    handler: ({ params }) => runner.get(params.id),
  });
  service.route({
    method: 'get',
    path: '/v1/jobs',
    operationId: 'listJobs',
    summary: 'Jobs, newest first',
    tags,
    query: z.object({
      status: z.enum(JOB_STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(50),
    }),
    responses: { 200: { description: 'Jobs', schema: z.object({ items: z.array(jobRecordSchema) }).meta({ id: 'JobList' }) } },
    handler: async ({ query }) => ({ items: await runner.list(query) }),
  });
  service.route({
    method: 'delete',
    path: '/v1/jobs/{id}',
    operationId: 'cancelJob',
    summary: 'Cancel a job: queued ones at once, running ones when their work stops',
    tags,
    params: jobIdParams,
    responses: {
      200: { description: 'Cancelled', schema: jobRecordSchema },
      202: { description: 'Cancellation requested; the job is still stopping', schema: jobRecordSchema },
      404: { description: 'No such job' },
      409: { description: 'The job already finished' },
    },
    handler: async ({ params }) => {
      const record = await runner.cancel(params.id);
      return reply(record.status === 'cancelled' ? 200 : 202, record);
    },
  });
}

/** Query of job-starting endpoints: `?wait=true` answers synchronously (up to a cap). */
export const jobStartQuery = z.object({
  wait: queryBoolean().optional().meta({ description: 'Wait for the result (up to a cap) instead of answering 202' }),
});

/** Responses of a job-starting endpoint: 200 with the result (`?wait=true`) or 202 with the job. */
export function jobStartResponses(result: z.ZodType, description = 'The result (with `?wait=true`)'): Record<number, ResponseSpec> {
  return {
    200: { description, schema: result },
    202: {
      description: 'Accepted: the job is queued or running; poll `Location`',
      schema: jobRecordSchema,
      headers: { Location: { description: 'The job resource, `/v1/jobs/{id}`' } },
    },
  };
}

export interface StartJobOptions {
  /** Wait for the outcome (`?wait=true`). */
  wait?: boolean;
  waitCapMs?: number;
  /** The request's signal: a client that goes away stops the wait (not the job). */
  signal?: AbortSignal;
  requestId?: string;
}

/**
 * Submits a job and answers for a job-starting endpoint: `202` + `Location` + the record; or,
 * with `wait`, `200` + the result, the job's problem if it failed or was cancelled, or `202`
 * if it is still running when the cap is reached.
 */
export async function startJob(runner: JobRunner, kind: string, input: unknown, options: StartJobOptions = {}): Promise<HttpReply> {
  const submitted = await runner.submit(kind, input);
  return options.wait ? waitForJob(runner, submitted, options) : accepted(submitted);
}

async function waitForJob(runner: JobRunner, submitted: JobRecord, options: StartJobOptions): Promise<HttpReply> {
  const record = await runner.wait(submitted.id, {
    timeoutMs: options.waitCapMs ?? DEFAULT_WAIT_CAP_MS,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (record.status === 'succeeded') return reply(200, record.result ?? null, { 'Content-Location': jobLocation(record.id) });
  if (record.error) {
    const problem = { ...record.error, instance: jobLocation(record.id), ...(options.requestId ? { requestId: options.requestId } : {}) };
    return new HttpReply(problem.status, problem, { 'Content-Location': jobLocation(record.id) }, PROBLEM_CONTENT_TYPE);
  }
  return accepted(record);
}

const accepted = (record: JobRecord): HttpReply => reply(202, record, { Location: jobLocation(record.id) });
