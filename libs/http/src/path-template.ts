/**
 * Route path templates. Routes may be written express-style (`/v1/jobs/:id`) or OpenAPI-style
 * (`/v1/jobs/{id}`); both become one template. The distinction matters because express 5 reads
 * `{...}` as an OPTIONAL group, so an OpenAPI path handed to it unchanged would silently match
 * the wrong URLs.
 */
export interface PathTemplate {
  /** Express form, also the `route` label of metrics: `/v1/jobs/:id`. */
  express: string;
  /** OpenAPI form: `/v1/jobs/{id}`. */
  openapi: string;
  /** Parameter names in order of appearance. */
  params: string[];
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL_SEGMENT = /^[A-Za-z0-9._~-]+$/;

export function parsePathTemplate(path: string): PathTemplate {
  if (!path.startsWith('/')) throw new Error(`route path must start with "/": ${JSON.stringify(path)}`);
  if (path === '/') return { express: '/', openapi: '/', params: [] };
  const segments = path.slice(1).split('/');
  const expressParts: string[] = [];
  const openapiParts: string[] = [];
  const params: string[] = [];
  for (const segment of segments) {
    const name = segment.startsWith(':')
      ? segment.slice(1)
      : segment.startsWith('{') && segment.endsWith('}')
        ? segment.slice(1, -1)
        : undefined;
    if (name !== undefined) {
      if (!PARAM_NAME.test(name)) throw new Error(`bad parameter name ${JSON.stringify(name)} in route path ${path}`);
      if (params.includes(name)) throw new Error(`parameter ${name} appears twice in route path ${path}`);
      params.push(name);
      expressParts.push(`:${name}`);
      openapiParts.push(`{${name}}`);
    } else {
      if (!LITERAL_SEGMENT.test(segment)) {
        throw new Error(`route path segment ${JSON.stringify(segment)} in ${path} must be a literal or a parameter`);
      }
      expressParts.push(segment);
      openapiParts.push(segment);
    }
  }
  return { express: `/${expressParts.join('/')}`, openapi: `/${openapiParts.join('/')}`, params };
}
