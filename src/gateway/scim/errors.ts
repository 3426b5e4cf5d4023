/**
 * The one SCIM error type. Everything that should reach a client as a SCIM Error body
 * (RFC7644 §3.12) is thrown as a ScimError; one express middleware renders it.
 */

export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

/** Status codes a scimType may travel with. RFC7644 §3.12 puts them all on 400, except
 * uniqueness (409). We also allow mutability on 409 for conflicts with server state
 * (last-owner protection, as Modelux documents) and tooMany on 413 for oversized bulk. */
const allowedStatus: Record<ScimType, readonly number[]> = {
  invalidFilter: [400],
  tooMany: [400, 413],
  uniqueness: [409],
  mutability: [400, 409],
  invalidSyntax: [400],
  invalidPath: [400],
  noTarget: [400],
  invalidValue: [400],
  invalidVers: [400],
  sensitive: [403],
};

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export interface ScimErrorBody {
  schemas: [typeof ERROR_SCHEMA];
  status: string;
  scimType?: ScimType;
  detail: string;
}

export class ScimError extends Error {
  readonly status: number;
  readonly scimType?: ScimType;
  /** Extra response headers (WWW-Authenticate, Retry-After). */
  readonly headers: Record<string, string>;

  constructor(status: number, scimType: ScimType | undefined, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    if (scimType && !allowedStatus[scimType].includes(status)) {
      throw new TypeError(`scimType ${scimType} cannot travel with status ${status} (RFC7644 §3.12)`);
    }
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
    this.headers = headers;
  }

  get detail(): string {
    return this.message;
  }

  toBody(): ScimErrorBody {
    const body: ScimErrorBody = { schemas: [ERROR_SCHEMA], status: String(this.status), detail: this.message };
    if (this.scimType) body.scimType = this.scimType;
    return body;
  }

  static invalidFilter(detail: string): ScimError {
    return new ScimError(400, 'invalidFilter', detail);
  }
  static invalidSyntax(detail: string): ScimError {
    return new ScimError(400, 'invalidSyntax', detail);
  }
  static invalidPath(detail: string): ScimError {
    return new ScimError(400, 'invalidPath', detail);
  }
  static invalidValue(detail: string): ScimError {
    return new ScimError(400, 'invalidValue', detail);
  }
  static noTarget(detail: string): ScimError {
    return new ScimError(400, 'noTarget', detail);
  }
  static mutability(detail: string, status: 400 | 409 = 400): ScimError {
    return new ScimError(status, 'mutability', detail);
  }
  static uniqueness(detail: string): ScimError {
    return new ScimError(409, 'uniqueness', detail);
  }
  static tooMany(detail: string, status: 400 | 413 = 400): ScimError {
    return new ScimError(status, 'tooMany', detail);
  }
  static invalidVers(detail: string): ScimError {
    return new ScimError(400, 'invalidVers', detail);
  }
  static notFound(detail: string): ScimError {
    return new ScimError(404, undefined, detail);
  }
  static preconditionFailed(detail: string): ScimError {
    return new ScimError(412, undefined, detail);
  }
  static unavailable(detail: string, retryAfterSeconds = 5): ScimError {
    return new ScimError(503, undefined, detail, { 'Retry-After': String(retryAfterSeconds) });
  }
}
