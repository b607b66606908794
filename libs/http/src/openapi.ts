import { z } from 'zod';
import { parsePathTemplate } from './path-template.js';
import { problemSchema } from './problem.js';
import { JSON_CONTENT_TYPE, PROBLEM_CONTENT_TYPE, isJsonContentType, type RouteDefinition } from './route.js';

/**
 * OpenAPI 3.1 from the same zod schemas that validate requests (zod 4's `z.toJSONSchema`).
 *
 * - Schemas carrying `.meta({ id })` become `components/schemas/<id>` and are referenced by
 *   `$ref`; everything else is inlined.
 * - Request schemas are converted as zod INPUT types (defaults make fields optional, coerced
 *   query numbers...), response schemas as OUTPUT types. When one id converts differently in
 *   the two directions, the request form is named `<id>Input`.
 * - Every error response refers to the shared `Problem` schema.
 * - Output is deterministic: paths, methods and components in a fixed order, so the
 *   checked-in YAML regenerates byte-identically.
 */
export type JsonSchema = Record<string, unknown>;

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  parameters?: JsonSchema[];
  requestBody?: JsonSchema;
  responses: Record<string, JsonSchema>;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string };
  tags: Array<{ name: string }>;
  security: Array<Record<string, string[]>>;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, JsonSchema> };
}

/** What generation needs from a service (a `Service` satisfies it). */
export interface OpenApiSource {
  name: string;
  version: string;
  description?: string | undefined;
  routes(): readonly RouteDefinition[];
}

type Io = 'input' | 'output';
const METHOD_ORDER = ['get', 'put', 'post', 'patch', 'delete'];
const COMPONENT_PREFIX = '#/components/schemas/';
/** Marks refs to request-side components until their final names are known. */
const INPUT_MARK = '~input';

export function generateOpenApi(source: OpenApiSource): OpenApiDocument {
  const components = new ComponentCollector();
  const problemRef = components.ref(problemSchema, 'output', 'Problem');
  const paths: Record<string, Record<string, OpenApiOperation>> = {};
  const tags = new Set<string>();

  for (const route of source.routes()) {
    const template = parsePathTemplate(route.path);
    const operation = buildOperation(route, template.params, components, problemRef);
    for (const tag of route.tags ?? []) tags.add(tag);
    (paths[template.openapi] ??= {})[route.method] = operation;
  }

  const schemas = components.finish();
  const document: OpenApiDocument = {
    openapi: '3.1.0',
    info: {
      title: source.name,
      version: source.version,
      ...(source.description === undefined ? {} : { description: source.description }),
    },
    tags: [...tags].sort().map((name) => ({ name })),
    security: [{ bearerAuth: [] }],
    paths: sortPaths(paths),
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'Required when the deployment sets API_TOKENS; otherwise auth is off.',
        },
      },
    },
  };
  return components.renameRefs(document);
}

function buildOperation(
  route: RouteDefinition,
  pathParams: string[],
  components: ComponentCollector,
  problemRef: JsonSchema,
): OpenApiOperation {
  const context = route.operationId;
  const parameters = [
    ...parametersFrom(route.params, 'path', pathParams, components, context),
    ...parametersFrom(route.query, 'query', [], components, context),
  ];
  const contentType = route.bodyContentType ?? JSON_CONTENT_TYPE;
  const jsonBody = isJsonContentType(contentType);
  const hasBody = route.method === 'post' || route.method === 'put' || route.method === 'patch';

  let requestBody: JsonSchema | undefined;
  if (hasBody && route.body) {
    requestBody = {
      required: !route.body.safeParse(undefined).success,
      content: { [contentType]: { schema: components.inline(route.body, 'input', `${context}Body`) } },
    };
  } else if (hasBody && !jsonBody) {
    requestBody = { required: true, content: { [contentType]: {} } };
  }

  const responses: Record<string, JsonSchema> = {};
  const problem = (description: string): JsonSchema => ({ description, content: { [PROBLEM_CONTENT_TYPE]: { schema: problemRef } } });
  for (const [status, spec] of Object.entries(route.responses)) {
    const isError = Number(status) >= 400;
    const type = spec.contentType ?? (isError ? PROBLEM_CONTENT_TYPE : JSON_CONTENT_TYPE);
    const response: JsonSchema = { description: spec.description };
    if (spec.headers) {
      response['headers'] = Object.fromEntries(
        Object.entries(spec.headers).map(([name, h]) => [
          name,
          { description: h.description, schema: h.schema ? components.inline(h.schema, 'output', `${context}${name}`) : { type: 'string' } },
        ]),
      );
    }
    const schema = spec.schema
      ? components.inline(spec.schema, 'output', `${context}${status}`)
      : isError
        ? problemRef
        : undefined;
    if (schema) response['content'] = { [type]: { schema } };
    responses[status] = response;
  }
  // The errors every route of this kind can answer, unless the route documents them itself.
  const validates = route.params !== undefined || route.query !== undefined || (hasBody && jsonBody);
  if (validates) responses['400'] ??= problem('Invalid request; `errors` lists every bad field');
  if (!route.public) responses['401'] ??= problem('Missing or invalid bearer token (when auth is on)');
  if (hasBody) responses['413'] ??= problem('Request body too large');
  if (hasBody && jsonBody) responses['415'] ??= problem(`Request body is not ${JSON_CONTENT_TYPE}`);
  if (!route.public) responses['503'] ??= problem('Object store unavailable (see `Retry-After`) or service not ready');
  responses['default'] ??= problem('Unexpected error');

  // Built key by key so the document reads in this order.
  const operation: Partial<OpenApiOperation> = { operationId: route.operationId, summary: route.summary };
  if (route.description !== undefined) operation.description = route.description;
  if (route.tags && route.tags.length > 0) operation.tags = [...route.tags];
  if (route.public) operation.security = [];
  if (parameters.length > 0) operation.parameters = parameters;
  if (requestBody) operation.requestBody = requestBody;
  operation.responses = sortResponses(responses);
  return operation as OpenApiOperation;
}

function parametersFrom(
  schema: z.ZodType | undefined,
  location: 'path' | 'query',
  pathParams: string[],
  components: ComponentCollector,
  context: string,
): JsonSchema[] {
  if (!schema) return pathParams.map((name) => ({ name, in: location, required: true, schema: { type: 'string' } }));
  const json = components.inline(schema, 'input', `${context}_${location}`);
  const properties = json['properties'];
  if (json['type'] !== 'object' || typeof properties !== 'object' || properties === null) {
    throw new Error(`${context}: ${location} parameters must be a z.object(...) schema`);
  }
  const required = new Set(Array.isArray(json['required']) ? (json['required'] as string[]) : []);
  return Object.entries(properties as Record<string, JsonSchema>).map(([name, prop]) => {
    const { description, ...propSchema } = prop;
    const parameter: JsonSchema = { name, in: location };
    if (typeof description === 'string') parameter['description'] = description;
    parameter['required'] = location === 'path' || required.has(name);
    parameter['schema'] = propSchema;
    return parameter;
  });
}

/**
 * Converts zod schemas to inline JSON Schemas, keeping every `$defs` entry as a component. Refs
 * point at `<id>` (response side) or `<id>~input` (request side) until `renameRefs` settles
 * the names.
 */
class ComponentCollector {
  private readonly byIo: Record<Io, Map<string, JsonSchema>> = { input: new Map(), output: new Map() };
  private finalNames: Map<string, string> | undefined;

  /** A `$ref` to a schema that has an id. */
  ref(schema: z.ZodType, io: Io, context: string): JsonSchema {
    const json = this.inline(schema, io, context);
    if (typeof json['$ref'] !== 'string') throw new Error(`${context}: schema needs .meta({ id }) to be a component`);
    return json;
  }

  inline(schema: z.ZodType, io: Io, context: string): JsonSchema {
    const converted = z.toJSONSchema(schema, {
      io,
      target: 'draft-2020-12',
      unrepresentable: 'any',
      reused: 'inline',
      cycles: 'ref',
      override: io === 'output' ? allowExtraResponseFields : undefined,
    }) as JsonSchema;
    const { $schema: _dialect, $defs, ...root } = converted;
    // Defs without an id (recursive schemas) get names local to where they were found.
    const local = (key: string): string => (key.startsWith('__schema') ? `${context}_${key.replace(/^_+/, '')}` : key);
    const suffix = io === 'input' ? INPUT_MARK : '';
    const rewrite = (value: unknown): unknown =>
      mapRefs(value, (ref) => (ref.startsWith('#/$defs/') ? `${COMPONENT_PREFIX}${local(ref.slice('#/$defs/'.length))}${suffix}` : ref));
    for (const [key, def] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      this.add(io, local(key), rewrite(def) as JsonSchema);
    }
    return rewrite(root) as JsonSchema;
  }

  private add(io: Io, name: string, schema: JsonSchema): void {
    const existing = this.byIo[io].get(name);
    if (existing && stableJson(existing) !== stableJson(schema)) {
      throw new Error(`two different schemas use the component id "${name}"`);
    }
    this.byIo[io].set(name, schema);
  }

  /** Final component table. A request-side schema identical to its response side is shared. */
  finish(): Record<string, JsonSchema> {
    const { input, output } = this.byIo;
    const names = new Map<string, string>();
    const out: Record<string, JsonSchema> = {};
    for (const [name, schema] of output) {
      names.set(name, name);
      out[name] = schema;
    }
    // A request form differs from its response form if its own JSON differs, or if it refers
    // to a request form that differs (and so will be named differently): iterate to a fixpoint.
    const differs = new Set<string>();
    for (const [name, schema] of input) {
      const twin = output.get(name);
      if (twin && stableJson(schema).replaceAll(INPUT_MARK, '') !== stableJson(twin)) differs.add(name);
    }
    for (let changed = true; changed; ) {
      changed = false;
      for (const [name, schema] of input) {
        if (differs.has(name) || !output.has(name)) continue;
        const text = stableJson(schema);
        if ([...differs].some((dep) => text.includes(`"${COMPONENT_PREFIX}${dep}${INPUT_MARK}"`))) {
          differs.add(name);
          changed = true;
        }
      }
    }
    for (const [name, schema] of input) {
      if (output.has(name) && !differs.has(name)) {
        names.set(`${name}${INPUT_MARK}`, name);
        continue;
      }
      const finalName = output.has(name) ? `${name}Input` : name;
      if (out[finalName]) throw new Error(`component id ${finalName} clashes with the request form of ${name}`);
      names.set(`${name}${INPUT_MARK}`, finalName);
      out[finalName] = schema;
    }
    this.finalNames = names;
    const sorted: Record<string, JsonSchema> = {};
    for (const key of Object.keys(out).sort()) sorted[key] = this.renameRefs(out[key] as JsonSchema);
    return sorted;
  }

  renameRefs<T>(value: T): T {
    const names = this.finalNames;
    if (!names) throw new Error('finish() first');
    return mapRefs(value, (ref) => {
      if (!ref.startsWith(COMPONENT_PREFIX)) return ref;
      const name = ref.slice(COMPONENT_PREFIX.length);
      return `${COMPONENT_PREFIX}${names.get(name) ?? name}`;
    }) as T;
  }
}

/**
 * zod marks output objects `additionalProperties: false` (parsing strips unknown keys). Responses
 * are not parsed on the way out, and adding a response field must not break clients that
 * validate, so only `z.strictObject` keeps the flag in responses.
 */
function allowExtraResponseFields(ctx: { zodSchema: z.core.$ZodTypes; jsonSchema: z.core.JSONSchema.BaseSchema }): void {
  const def = ctx.zodSchema._zod.def;
  if (def.type === 'object' && def.catchall === undefined && ctx.jsonSchema.additionalProperties === false) {
    delete ctx.jsonSchema.additionalProperties;
  }
}

function mapRefs(value: unknown, fn: (ref: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => mapRefs(v, fn));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = k === '$ref' && typeof v === 'string' ? fn(v) : mapRefs(v, fn);
  return out;
}

/** JSON with sorted keys, for equality checks that ignore key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function sortPaths(paths: Record<string, Record<string, OpenApiOperation>>): Record<string, Record<string, OpenApiOperation>> {
  const out: Record<string, Record<string, OpenApiOperation>> = {};
  for (const path of Object.keys(paths).sort()) {
    const ops = paths[path] ?? {};
    const sorted: Record<string, OpenApiOperation> = {};
    for (const method of METHOD_ORDER) {
      const op = ops[method];
      if (op) sorted[method] = op;
    }
    out[path] = sorted;
  }
  return out;
}

function sortResponses(responses: Record<string, JsonSchema>): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  const keys = Object.keys(responses).sort((a, b) => (a === 'default' ? 1 : b === 'default' ? -1 : Number(a) - Number(b)));
  for (const key of keys) out[key] = responses[key] as JsonSchema;
  return out;
}
