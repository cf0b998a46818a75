// The admin dashboard in a real headless Chromium with every non-loopback request blocked: it
// must render, follow the store, browse keys and run every operation from what kvstore serves.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { KVStore, silentLogger } from "../../src/index.ts";
import { defaultServerConfig, type ServerConfig } from "../../src/server/config.ts";
import { type ServerHandle, startServer } from "../../src/server/serve.ts";
import { launchOfflineBrowser, offlinePage } from "./offline-browser.ts";

const ADMIN_TOKEN = "dashboard-admin-token";
const READER_TOKEN = "dashboard-reader-token";
const TOKEN_KEY = "kvstore-dashboard-token";
// A loaded 2-core machine may take a while to run Chromium and the server side by side.
const TEST_TIMEOUT_MS = 120_000;
const WAIT_MS = 60_000;
const ONE_PIXEL_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

let scratch: string;
let server: ServerHandle;
let openServer: ServerHandle;
let browser: Browser;

async function serve(dataDir: string, settings: Partial<ServerConfig> = {}): Promise<ServerHandle> {
  const config = { ...defaultServerConfig, host: "127.0.0.1", port: 0, dataDir, logLevel: "error" as const };
  return startServer({ ...config, ...settings }, { handleSignals: false });
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "kvstore-dashboard-"));
  const tokensFile = join(scratch, "tokens");
  writeFileSync(tokensFile, `read ${READER_TOKEN}\nadmin ${ADMIN_TOKEN}\n`);
  server = await serve(join(scratch, "data"), { authTokensFile: tokensFile, maxSegmentBytes: 1024 * 1024 });
  openServer = await serve(join(scratch, "open-data"));
  browser = await launchOfflineBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await openServer?.stop();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

/** A call to the secured server's API with the admin token. */
function api(method: string, path: string, body?: string | Uint8Array): Promise<Response> {
  return fetch(new URL(path, server.url), {
    method,
    body,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
}

async function adminStats(): Promise<{
  stats: { numKeys: number; compactions: number; snapshotsSaved: number };
}> {
  return (await (await api("GET", "/admin/stats")).json()) as never;
}

/** The dashboard of the secured server, its token already in the tab's sessionStorage. */
async function openDashboard(token: string | null = ADMIN_TOKEN) {
  const opened = await offlinePage(browser);
  opened.page.setDefaultTimeout(WAIT_MS);
  if (token !== null) {
    const setToken = `sessionStorage.setItem(${JSON.stringify(TOKEN_KEY)}, ${JSON.stringify(token)})`;
    await opened.page.addInitScript({ content: setToken });
  }
  await opened.page.goto(`${server.url.origin}/dashboard`);
  return opened;
}

/** Waits until the element holds `text` (the page refreshes its figures every few seconds). */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.locator(selector, { hasText: text }).waitFor();
}

/** Waits until a figure reads exactly `value`. */
async function waitForFigure(page: Page, selector: string, value: number): Promise<void> {
  await page.locator(selector, { hasText: new RegExp(`^${value}$`) }).waitFor();
}

describe("the dashboard at /dashboard", () => {
  it(
    "asks for a token and says clearly when it is missing, wrong or too weak",
    async () => {
      const { page, blocked } = await openDashboard(null);
      await waitForText(page, "#auth-message", "needs an admin token");
      await page.fill("#token-input", "not-a-token");
      await page.click('#token-form button[type="submit"]');
      await waitForText(page, "#auth-message", "token was refused");
      await page.fill("#token-input", READER_TOKEN);
      await page.click('#token-form button[type="submit"]');
      await waitForText(page, "#auth-message", "needs a token with the admin role");
      await page.fill("#token-input", ADMIN_TOKEN);
      await page.click('#token-form button[type="submit"]');
      await page.locator("#auth-message").waitFor({ state: "hidden" });
      await waitForFigure(page, "#figure-keys", (await adminStats()).stats.numKeys);
      expect(blocked).toEqual([]);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "shows the store's figures and segments, and follows writes",
    async () => {
      const { page, blocked, failed } = await openDashboard();
      const before = (await adminStats()).stats.numKeys;
      await waitForFigure(page, "#figure-keys", before);
      // Values of 300 KiB in 1 MiB segments: several segments, the first ones partly dead.
      for (let i = 0; i < 8; i++) await api("PUT", `/blobs/figures:${i % 5}`, new Uint8Array(300 * 1024));
      await waitForFigure(page, "#figure-keys", before + 5);
      // 1.5 MiB of live values need two 1 MiB segments at least, whatever compaction does meanwhile.
      await page.locator("#segments li").nth(1).waitFor();
      await waitForText(page, "#segments", "(active)");
      await waitForText(page, "#figure-rate", "req/s");
      await waitForText(page, "#figure-latency", "ms");
      await waitForText(page, "#figure-storage", "ok");
      expect(await page.locator("#figure-disk").textContent()).toMatch(/MiB$/);
      await page.screenshot({ path: join(tmpdir(), "kvstore-dashboard.png"), fullPage: true });
      expect(blocked).toEqual([]);
      expect(failed).toEqual([]);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "shows a full disk and a storage failure when the store reports them",
    async () => {
      const { page, blocked } = await openDashboard();
      // A real failure needs a faulty file system under the server; the page only reads the flags.
      let reported = { diskFull: true, storageFailure: null as string | null };
      await page.route("**/admin/stats", async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as { stats: Record<string, unknown> };
        await route.fulfill({ response, json: { ...body, stats: { ...body.stats, ...reported } } });
      });
      await waitForText(page, "#figure-storage", "disk full: new values refused");
      reported = { diskFull: false, storageFailure: "fsync failed (EIO) on 000003.seg" };
      await waitForText(page, "#figure-storage", "FAILED: fsync failed (EIO) on 000003.seg");
      expect(blocked).toEqual([]);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "finds keys by prefix, pages through them and previews values as text, hex and image",
    async () => {
      await api("PUT", "/blobs/browse%2Fgreeting.txt", "hello dashboard");
      await api("PUT", "/blobs/browse%2Fbinary", new Uint8Array([0, 1, 2, 0xff]));
      await api("PUT", "/blobs/browse%2Fpixel.png", ONE_PIXEL_PNG);
      for (let i = 0; i < 25; i++) await api("PUT", `/blobs/paged:${String(i).padStart(2, "0")}`, "x");
      // A blob's Last-Modified is sent once the second of its write is over: wait for that.
      const writtenSecond = Math.floor(Date.now() / 1000);
      while (Math.floor(Date.now() / 1000) <= writtenSecond) await Bun.sleep(50);
      const { page, blocked, failed } = await openDashboard();
      const keys = page.locator("#key-list button");

      await page.fill("#prefix-input", "browse/");
      await page.click('#search-form button[type="submit"]');
      await waitForText(page, "#page-info", "3 keys");
      expect(await keys.allTextContents()).toEqual([
        "browse/binary",
        "browse/greeting.txt",
        "browse/pixel.png",
      ]);

      await keys.filter({ hasText: "greeting.txt" }).click();
      await waitForText(page, "#value-preview", "hello dashboard");
      const head = await api("HEAD", "/blobs/browse%2Fgreeting.txt");
      expect(await page.locator("#value-size").textContent()).toBe("15 bytes");
      expect(await page.locator("#value-etag").textContent()).toBe(head.headers.get("etag") ?? "");
      expect(await page.locator("#value-type").textContent()).toBe(head.headers.get("content-type") ?? "");
      expect(head.headers.get("last-modified")).not.toBeNull();
      expect(await page.locator("#value-modified").textContent()).toBe(head.headers.get("last-modified"));

      await keys.filter({ hasText: "binary" }).click();
      await page.check('input[name="preview"][value="hex"]');
      await waitForText(page, "#value-preview", "00 01 02 ff");

      await keys.filter({ hasText: "pixel.png" }).click();
      await page.check('input[name="preview"][value="image"]');
      const image = page.locator("#value-image");
      await image.waitFor({ state: "visible" });
      // No DOM types in the test's compilation: the element is described by what is used of it.
      const width = await image.evaluate((element: { decode(): Promise<void>; naturalWidth: number }) =>
        element.decode().then(() => element.naturalWidth),
      );
      expect(width).toBe(1);

      await page.fill("#prefix-input", "paged:");
      await page.click('#search-form button[type="submit"]');
      await waitForText(page, "#page-info", "page 1: 20 keys");
      expect(await keys.first().textContent()).toBe("paged:00");
      await page.click("#next-page");
      await waitForText(page, "#page-info", "page 2: 5 keys");
      expect(await keys.allTextContents()).toEqual([
        "paged:20",
        "paged:21",
        "paged:22",
        "paged:23",
        "paged:24",
      ]);
      expect(await page.locator("#next-page").isDisabled()).toBe(true);
      await page.click("#previous-page");
      await waitForText(page, "#page-info", "page 1: 20 keys");

      expect(blocked).toEqual([]);
      expect(failed).toEqual([]);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "compacts, saves a snapshot and backs up from its buttons",
    async () => {
      await api("PUT", "/blobs/operations:kept", "kept");
      const before = (await adminStats()).stats;
      const { page, blocked } = await openDashboard();
      const result = page.locator("#action-result");

      await page.click("#compact-button");
      await waitForText(page, "#action-result", '"status": "compacted"');
      expect((await adminStats()).stats.compactions).toBeGreaterThan(before.compactions);

      await page.click("#snapshot-button");
      await waitForText(page, "#action-result", '"status": "saved"');
      expect((await adminStats()).stats.snapshotsSaved).toBeGreaterThan(before.snapshotsSaved);

      await page.fill("#backup-path", "relative/dir");
      await page.click('#backup-form button[type="submit"]');
      await waitForText(page, "#action-result", "failed (400): path must be absolute");

      const backupDir = join(scratch, "backup");
      await page.fill("#backup-path", backupDir);
      await page.click('#backup-form button[type="submit"]');
      await waitForText(page, "#action-result", `"path": "${backupDir}"`);
      expect(await result.textContent()).toContain("Back up: done");
      const backup = await KVStore.open(backupDir, { logger: silentLogger });
      try {
        expect(new TextDecoder().decode(backup.get("operations:kept") ?? new Uint8Array())).toBe("kept");
      } finally {
        await backup.close();
      }
      expect(existsSync(join(backupDir, "index.snapshot"))).toBe(true);
      expect(blocked).toEqual([]);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "works with no token on a loopback server that has none configured",
    async () => {
      const { page, blocked, failed } = await offlinePage(browser);
      page.setDefaultTimeout(WAIT_MS);
      await fetch(new URL("/blobs/open:1", openServer.url), { method: "PUT", body: "1" });
      await page.goto(`${openServer.url.origin}/dashboard`);
      await waitForFigure(page, "#figure-keys", 1);
      await waitForText(page, "#key-list", "open:1");
      expect(await page.locator("#auth-message").isHidden()).toBe(true);
      expect(blocked).toEqual([]);
      expect(failed).toEqual([]);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );
});
