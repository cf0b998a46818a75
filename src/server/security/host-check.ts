import { isIP } from "node:net";

export interface HostPolicy {
  /** The address the server listens on, as configured. */
  boundHost: string;
  /** Lower-case host names, without ports. */
  allowedHosts: readonly string[];
  /** Tokens are configured: a rebinding page cannot present one. */
  hasTokens: boolean;
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

export function isWildcardAddress(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower case; undefined if malformed. */
function hostNameOf(hostHeader: string): string | undefined {
  try {
    const url = new URL(`http://${hostHeader}`);
    return url.username === "" && url.pathname === "/" ? url.hostname : undefined;
  } catch {
    return undefined;
  }
}

/**
 * DNS rebinding protection: a page on attacker.example whose name is made to resolve to this
 * server sends `Host: attacker.example`. Accepted: the bound address, loopback names, IP literals
 * (a rebinding needs a name), and ALLOWED_HOSTS. On a wildcard bind the machine's names are not
 * known; there, with tokens configured and no ALLOWED_HOSTS, any Host is accepted, because a
 * rebinding page cannot present a token.
 */
export function isAllowedHost(hostHeader: string, policy: HostPolicy): boolean {
  const name = hostNameOf(hostHeader);
  if (name === undefined) return false;
  if (LOOPBACK_NAMES.has(name) || isIP(name.replace(/^\[(.*)\]$/, "$1")) !== 0) return true;
  if (name === policy.boundHost.toLowerCase() || policy.allowedHosts.includes(name)) return true;
  return isWildcardAddress(policy.boundHost) && policy.hasTokens && policy.allowedHosts.length === 0;
}
