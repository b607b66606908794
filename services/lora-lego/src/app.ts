import { serviceOpenApi, type OpenApiDocument } from '@weightsmith/http';
import { definition } from './service.js';

/** Used by `npm run openapi` (scripts/openapi.ts) to write openapi/<service>.yaml. */
export function buildOpenApi(): Promise<OpenApiDocument> {
  return serviceOpenApi(definition);
}
