import { timingSafeEqual } from "node:crypto";
import { ConfigError } from "../config.ts";

export const ROLES = ["read", "write", "admin"] as const;
/** Each role can do everything the roles before it can. */
export type Role = (typeof ROLES)[number];

export function roleCovers(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

export interface TokenGrant {
  role: Role;
  token: string;
}

/**
 * Parses a tokens file: one `<role> <token>` a line, `#` comments and blank lines allowed.
 * A line that is not of that form is a ConfigError naming the file and the line number (never
 * the token, which must not reach a log).
 */
export function parseTokensFile(text: string, fileName: string): TokenGrant[] {
  const grants: TokenGrant[] = [];
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [role, token, ...rest] = line.split(/\s+/);
    const known = ROLES.find((candidate) => candidate === role);
    if (known === undefined || token === undefined || rest.length > 0) {
      throw new ConfigError(
        `${fileName} line ${index + 1}: expected "<role> <token>" with a role of ${ROLES.join(", ")}`,
      );
    }
    grants.push({ role: known, token });
  }
  return grants;
}

/**
 * SHA-256 of a token. Bun.SHA256.hash is one native call, about 0.1 µs for a 43-character token,
 * where node:crypto's createHash().update().digest() took about 0.4 µs and three allocations: on
 * every authenticated request, that was most of what auth cost (bench/http.ts).
 */
const digest = (text: string): Uint8Array => Bun.SHA256.hash(text) as Uint8Array;

/**
 * The configured tokens. Both sides are hashed before the comparison, so timingSafeEqual always
 * compares 32 bytes whatever the token lengths, and every grant is compared: the time taken does
 * not tell which token, or how much of one, matched.
 */
export class AccessTokens {
  private readonly grants: { role: Role; digest: Uint8Array }[];

  constructor(grants: readonly TokenGrant[]) {
    this.grants = grants.map(({ role, token }) => ({ role, digest: digest(token) }));
  }

  get isEmpty(): boolean {
    return this.grants.length === 0;
  }

  /** The strongest role the presented token holds, or undefined for an unknown token. */
  roleOf(presented: string): Role | undefined {
    const presentedDigest = digest(presented);
    let best: Role | undefined;
    for (const grant of this.grants) {
      if (
        timingSafeEqual(grant.digest, presentedDigest) &&
        (best === undefined || roleCovers(grant.role, best))
      ) {
        best = grant.role;
      }
    }
    return best;
  }
}
