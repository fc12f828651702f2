/**
 * A Graph error answer, thrown by handlers and turned into Graph's error JSON by the pipeline
 * (`{"error":{"code","message","innerError":{…}}}`, docs/graph.md §3.2).
 */
export class GraphError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Record<string, string>;
  readonly innerError: Record<string, unknown> | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    options: {
      retryAfterSeconds?: number;
      headers?: Record<string, string>;
      innerError?: Record<string, unknown>;
    } = {},
  ) {
    super(message);
    this.name = 'GraphError';
    this.status = status;
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
    this.innerError = options.innerError;
  }
}

/** Exchange's answer for an id that names nothing in the mailbox (also old ids after a move). */
export function itemNotFound(): GraphError {
  return new GraphError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
}

/** OData's answer for a property the type does not have. */
export function unknownProperty(property: string, typeName: string): GraphError {
  return new GraphError(
    400,
    'RequestBodyRead',
    `The property '${property}' does not exist on type '${typeName}'. Make sure to only use property names that are defined by the type or mark the type as open type.`,
  );
}

/** OData's answer for a value of the wrong JSON type. */
export function invalidValue(property: string, expected: string): GraphError {
  return new GraphError(
    400,
    'RequestBodyRead',
    `Cannot convert the literal value of property '${property}' to the expected type '${expected}'.`,
  );
}

/** Graph's answer for a body that is not JSON (or has no JSON content type). */
export function unreadableJson(): GraphError {
  return new GraphError(
    400,
    'BadRequest',
    'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
  );
}

/**
 * A request over Graph's 4 MB ceiling: code `BadRequest` with Microsoft's message [OBS], HTTP 413 [OBS: "after
 * 4 194 304 characters you'll get 413 responses"]. @see docs/graph.md §3.3
 */
export function requestTooLarge(): GraphError {
  return new GraphError(413, 'BadRequest', 'The maximum request length supported is 4MB.');
}
