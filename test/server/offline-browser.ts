// Headless Debian Chromium (test/install-tools.sh) through playwright-core, with every request to
// a host other than loopback blocked and recorded: pages under test must work from what kvstore
// itself serves.
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export function launchOfflineBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run test/install-tools.sh`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

/**
 * A page in a context of its own that may only reach loopback addresses; `blocked` lists whatever
 * else it tried, `failed` the URLs answered with 400 or more. Close it with `page.context().close()`.
 */
export async function offlinePage(
  browser: Browser,
): Promise<{ page: Page; blocked: string[]; failed: string[] }> {
  const context = await browser.newContext();
  const blocked: string[] = [];
  const failed: string[] = [];
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.protocol.startsWith("http") && LOOPBACK_HOSTS.has(url.hostname)) return route.continue();
    if (url.protocol === "data:" || url.protocol === "blob:") return route.continue();
    blocked.push(url.href);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("response", (response) => {
    if (response.status() >= 400 && !response.url().endsWith("/favicon.ico")) failed.push(response.url());
  });
  return { page, blocked, failed };
}
