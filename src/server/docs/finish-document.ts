import { ErrorBody } from "../schemas.ts";
import {
  accessRefusals,
  BEARER_SCHEME,
  bearerSecurityScheme,
  requirementSentence,
} from "./access-in-document.ts";
import { type ErrorExample, errorExample } from "./error-examples.ts";
import { type LooseSchema, queryParameterSchema, removeElysiaKeywords } from "./tidy-schema.ts";

interface MediaType {
  schema?: LooseSchema;
  example?: unknown;
}
interface ResponseObject {
  description: string;
  content?: Record<string, MediaType>;
}
interface Operation {
  description?: string;
  security?: Record<string, string[]>[];
  parameters?: { in: string; schema?: LooseSchema }[];
  requestBody?: { content?: Record<string, MediaType> };
  responses?: Record<string, ResponseObject>;
}
/** The document as @elysiajs/openapi generates it, typed as far as it is changed here. */
export interface GeneratedDocument {
  [field: string]: unknown;
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, LooseSchema>; securitySchemes?: Record<string, unknown> };
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/** Elysia names an error response after ErrorBody's description when a route declares the status. */
const GENERIC_ERROR_DESCRIPTION = ErrorBody.description;

/**
 * The response with the example's description (where Elysia's is generic) and example body. A copy:
 * routes share their error content objects (errorContent), so each needs its own.
 */
function documentError(response: ResponseObject, example: ErrorExample): ResponseObject {
  const description =
    response.description === GENERIC_ERROR_DESCRIPTION ? example.description : response.description;
  const json = response.content?.["application/json"];
  if (json === undefined) return { ...response, description };
  const content = {
    ...response.content,
    "application/json": { ...json, example: { error: example.message } },
  };
  return { ...response, description, content };
}

function tidySchemas(operation: Operation): void {
  for (const parameter of operation.parameters ?? []) {
    if (parameter.schema === undefined) continue;
    removeElysiaKeywords(parameter.schema);
    if (parameter.in === "query") parameter.schema = queryParameterSchema(parameter.schema);
  }
  const mediaTypes = [
    ...Object.values(operation.requestBody?.content ?? {}),
    ...Object.values(operation.responses ?? {}).flatMap((response) => Object.values(response.content ?? {})),
  ];
  for (const mediaType of mediaTypes)
    if (mediaType.schema !== undefined) removeElysiaKeywords(mediaType.schema);
}

/** The access rule of the operation: its security, a sentence saying it, and its 401 and 403. */
function documentAccess(method: string, path: string, operation: Operation): void {
  const refusals = accessRefusals(method, path);
  if (refusals[401] === undefined) operation.security = [];
  const sentence = requirementSentence(method, path);
  operation.description =
    operation.description === undefined ? sentence : `${operation.description} ${sentence}`;
  operation.responses ??= {};
  for (const [status, example] of Object.entries(refusals)) {
    // A HEAD answer has no body to describe.
    const content = method === "head" ? undefined : { "application/json": { schema: errorSchema() } };
    const response = operation.responses[status] ?? {
      description: example.description,
      ...(content && { content }),
    };
    operation.responses[status] = documentError(response, example);
  }
}

/** ErrorBody as plain JSON (TypeBox marks its schemas with symbol keys). */
const errorSchema = () => structuredClone(ErrorBody) as unknown as LooseSchema;

/**
 * The document served at /swagger/json: what @elysiajs/openapi generates from the routes, made
 * acceptable to linters (Redocly, Spectral) and client generators. It declares the bearer
 * scheme and each operation's role, gives every error response an example of what the server
 * really answers, and drops the keywords Elysia adds to schemas for itself.
 */
export function finishDocument(generated: GeneratedDocument): GeneratedDocument {
  const document = structuredClone(generated);
  document.servers = [{ url: "/", description: "The server that serves this document" }];
  document.security = [{ [BEARER_SCHEME]: [] }];
  const components = document.components ?? {};
  components.securitySchemes = { ...components.securitySchemes, [BEARER_SCHEME]: bearerSecurityScheme };
  for (const schema of Object.values(components.schemas ?? {})) removeElysiaKeywords(schema);
  document.components = components;
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) continue;
      tidySchemas(operation);
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const example = Number(status) >= 400 ? errorExample(method, path, status) : undefined;
        if (example !== undefined && operation.responses)
          operation.responses[status] = documentError(response, example);
      }
      documentAccess(method, path, operation);
    }
  }
  return document;
}
