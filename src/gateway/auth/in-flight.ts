/**
 * What authenticated SCIM requests may hold at once: a cap on each token's requests in progress,
 * and a byte budget shared by every request body being read. Rate limits count requests per
 * second; these bound what slow requests pin: 150 slow 1 MiB bodies used to hold ~130 MB, and
 * one token's burst (600 requests) up to ~600 MB.
 */

/** A refusal: 429 (this token has too many requests in progress) or 503 (the body budget is spent). */
export interface InFlightRefusal {
  status: 429 | 503;
  retryAfterSeconds: number;
  detail: string;
}

/** One admitted request's share: body bytes reserved as they are announced or arrive. */
export interface InFlightTicket {
  /** Reserves `bytes` more of the body budget; a 503 refusal (nothing reserved) when they do not fit. */
  reserveBody(bytes: number): InFlightRefusal | undefined;
  /** Gives back the request's slot and every byte it reserved; later calls do nothing. */
  release(): void;
}

export interface InFlightLimits {
  /** A slot for one of the token's requests, or a 429 refusal when it has its cap in progress. */
  admit(tokenId: string): InFlightTicket | InFlightRefusal;
  /** Body bytes reserved now (a gauge). */
  bodyBytes(): number;
  /** Requests admitted and not yet answered (a gauge). */
  requests(): number;
}

export interface InFlightLimitsOptions {
  /** Bytes of request bodies all requests together may hold; 0 = no budget. */
  bodyBudgetBytes: number;
  /** Requests one token may have in progress; 0 = no cap. */
  perToken: number;
}

/** How long a refused client should wait: slots and budget free up as requests finish, in well under a second normally. */
const RETRY_AFTER_SECONDS = 1;

export function isRefusal(x: InFlightTicket | InFlightRefusal): x is InFlightRefusal {
  return 'status' in x;
}

export function createInFlightLimits(opts: InFlightLimitsOptions): InFlightLimits {
  const perToken = new Map<string, number>();
  let requests = 0;
  let bodyBytes = 0;
  const mib = (n: number) => `${Math.round((n / 1_048_576) * 10) / 10} MiB`;

  return {
    admit(tokenId) {
      const running = perToken.get(tokenId) ?? 0;
      if (opts.perToken > 0 && running >= opts.perToken) {
        return {
          status: 429,
          retryAfterSeconds: RETRY_AFTER_SECONDS,
          detail: `This token already has ${running} requests in progress (the limit is ${opts.perToken}); wait for their answers before sending more.`,
        };
      }
      perToken.set(tokenId, running + 1);
      requests += 1;
      let reserved = 0;
      let released = false;
      return {
        reserveBody(bytes) {
          if (released) return undefined;
          if (opts.bodyBudgetBytes > 0 && bodyBytes + bytes > opts.bodyBudgetBytes) {
            return {
              status: 503,
              retryAfterSeconds: RETRY_AFTER_SECONDS,
              detail: `The gateway is reading too many request bodies at once (${mib(bodyBytes)} of its ${mib(opts.bodyBudgetBytes)} budget); retry in a moment.`,
            };
          }
          reserved += bytes;
          bodyBytes += bytes;
          return undefined;
        },
        release() {
          if (released) return;
          released = true;
          bodyBytes -= reserved;
          requests -= 1;
          const left = (perToken.get(tokenId) ?? 1) - 1;
          if (left > 0) perToken.set(tokenId, left);
          else perToken.delete(tokenId); // the map holds only tokens with requests in progress
        },
      };
    },
    bodyBytes: () => bodyBytes,
    requests: () => requests,
  };
}
