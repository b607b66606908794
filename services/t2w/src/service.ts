import { readFileSync } from 'node:fs';
import { baseConfigSchema } from '@weightsmith/core';
import type { ServiceDefinition } from '@weightsmith/http';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const configSchema = baseConfigSchema;

/**
 * The t2w service. Shared routes (health, metrics, jobs, artifacts, OpenAPI) come from the
 * runtime; this definition adds the service's own endpoints.
 */
export const definition: ServiceDefinition = {
  name: 't2w',
  version: pkg.version,
  description: pkg.description,
  configSchema,
  register: () => [],
};
