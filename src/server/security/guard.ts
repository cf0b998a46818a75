import { checkAccess } from "./access.ts";
import { type CorsPolicy, corsHeaders, preflightAnswer } from "./cors.ts";
import { isAllowedHost } from "./host-check.ts";
import { isOriginAllowed, isSameOrigin } from "./origin-check.ts";
import { refusal } from "./refusal.ts";
import { AccessTokens } from "./tokens.ts";

export interface SecurityPolicy {
  tokens: AccessTokens;
  /** The address the server listens on, as configured. */
  boundHost: string;
  allowedHosts: readonly string[];
  cors: CorsPolicy;
  metricsPublic: boolean;
}

/** The policy of a server on 127.0.0.1 with nothing configured: open, but Host and Origin checked. */
export const loopbackPolicy: SecurityPolicy = {
  tokens: new AccessTokens([]),
  boundHost: "127.0.0.1",
  allowedHosts: [],
  cors: { origins: [] },
  metricsPublic: false,
};

/**
 * Runs before routing and before any body is read: Host, then Origin, then a CORS preflight,
 * then the token. Returns the refusal (or the preflight's answer) to send, or undefined to let
 * the request through; CORS headers for the eventual response go into `responseHeaders`.
 */
/**
 * Verdicts of the Host check by policy and Host value: a client sends the same Host on every
 * request, and the check parses it as a URL. At most HOST_VERDICTS values are kept per policy (a
 * client that sends many only makes it check again).
 */
const hostVerdicts = new WeakMap<SecurityPolicy, Map<string, boolean>>();
const HOST_VERDICTS = 256;

function hostAllowed(hostHeader: string, policy: SecurityPolicy): boolean {
  let verdicts = hostVerdicts.get(policy);
  if (verdicts === undefined) {
    verdicts = new Map();
    hostVerdicts.set(policy, verdicts);
  }
  let verdict = verdicts.get(hostHeader);
  if (verdict === undefined) {
    verdict = isAllowedHost(hostHeader, { ...policy, hasTokens: !policy.tokens.isEmpty });
    if (verdicts.size >= HOST_VERDICTS) verdicts.clear();
    verdicts.set(hostHeader, verdict);
  }
  return verdict;
}

export function guardRequest(
  request: Request,
  policy: SecurityPolicy,
  responseHeaders: Record<string, string | number>,
): Response | undefined {
  // app.handle() in tests builds requests without a Host header; their URL carries it.
  const hostHeader = request.headers.get("host") ?? new URL(request.url).host;
  if (!hostAllowed(hostHeader, policy)) {
    return refusal(421, `Host ${JSON.stringify(hostHeader)} is not served here; list it in ALLOWED_HOSTS`);
  }

  if (policy.cors.origins.length > 0) responseHeaders.vary = "Origin";
  const origin = request.headers.get("origin");
  const preflightMethod =
    request.method === "OPTIONS" ? request.headers.get("access-control-request-method") : null;
  if (origin !== null) {
    const method = preflightMethod?.toUpperCase() ?? request.method;
    if (!isOriginAllowed(origin, hostHeader, method, policy.cors)) {
      return refusal(403, `Origin ${JSON.stringify(origin)} may not ${method} here; see CORS_ORIGINS`);
    }
    if (!isSameOrigin(origin, hostHeader)) {
      if (preflightMethod !== null) return preflightAnswer(origin, policy.cors);
      Object.assign(responseHeaders, corsHeaders(origin, policy.cors));
    }
  }
  return checkAccess(request, policy.tokens, policy.metricsPublic);
}
