import { readFileSync } from 'node:fs';
import { baseConfigSchema } from '@weightsmith/core';
import type { ServiceDefinition } from '@weightsmith/http';
import { registerLoraLegoRoutes } from './http/routes.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const configSchema = baseConfigSchema;

/**
 * The lora-lego service. Shared routes (health, metrics, jobs, artifacts, OpenAPI) come from the
 * runtime; this definition adds the service's own endpoints.
 */
export const definition: ServiceDefinition = {
  name: 'lora-lego',
  version: pkg.version,
  description: pkg.description,
  configSchema,
  register: (service, ctx) => {
    registerLoraLegoRoutes(service, ctx, { service: 'lora-lego', version: pkg.version });
  },
};
