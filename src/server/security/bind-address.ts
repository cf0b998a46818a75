import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ConfigError } from "../config.ts";
import { isWildcardAddress } from "./host-check.ts";

function isLoopbackAddress(address: string): boolean {
  return address === "::1" || /^127\./.test(address) || address === "::ffff:127.0.0.1";
}

/**
 * Whether HOST only ever listens on loopback addresses. A name is resolved first, which also
 * turns an unresolvable HOST into a ConfigError (Bun reports it as "ENOTTY: inappropriate ioctl").
 */
export async function isLoopbackBind(host: string): Promise<boolean> {
  if (isWildcardAddress(host)) return false;
  const literal = host.replace(/^\[(.*)\]$/, "$1");
  if (isIP(literal) !== 0) return isLoopbackAddress(literal);
  let addresses: { address: string }[];
  try {
    addresses = await lookup(host, { all: true });
  } catch {
    throw new ConfigError(`HOST ${JSON.stringify(host)} does not resolve to an address of this machine`);
  }
  return addresses.every(({ address }) => isLoopbackAddress(address));
}
