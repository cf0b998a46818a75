/** A JSON Schema as found in the generated document, loosely typed: only the keywords walked here. */
export interface LooseSchema {
  [keyword: string]: unknown;
  type?: string;
  format?: string;
  anyOf?: LooseSchema[];
}

const SUBSCHEMA_LISTS = ["anyOf", "oneOf", "allOf", "prefixItems"];
const SUBSCHEMAS = ["items", "additionalProperties", "not"];

/**
 * Removes what Elysia adds to a schema for its own use and that is not JSON Schema, in place:
 * the `error` message each schema in schemas.ts carries for Elysia's 400s.
 */
export function removeElysiaKeywords(schema: LooseSchema): void {
  delete schema.error;
  for (const keyword of SUBSCHEMA_LISTS) {
    const list = schema[keyword];
    if (Array.isArray(list)) for (const subschema of list) removeElysiaKeywords(subschema);
  }
  for (const keyword of SUBSCHEMAS) {
    const subschema = schema[keyword];
    if (typeof subschema === "object" && subschema !== null) removeElysiaKeywords(subschema as LooseSchema);
  }
  const properties = schema.properties;
  if (typeof properties === "object" && properties !== null) {
    for (const property of Object.values(properties)) removeElysiaKeywords(property);
  }
}

const isNumericType = (schema: LooseSchema) => schema.type === "integer" || schema.type === "number";

/**
 * Elysia's `t.Integer` for a query parameter becomes `anyOf: [{type: string, format: integer,
 * default: 0}, {type: integer, ...}]` (it also takes the digits as a string), and that `default: 0`
 * contradicts `minimum: 1`. A parameter's schema describes its value once parsed: the numeric
 * branch alone says it.
 */
export function queryParameterSchema(schema: LooseSchema): LooseSchema {
  const numeric = schema.anyOf?.find(isNumericType);
  const digitsAsString = schema.anyOf?.some(
    (branch) => branch.type === "string" && branch.format === numeric?.type,
  );
  return numeric !== undefined && digitsAsString === true ? numeric : schema;
}
