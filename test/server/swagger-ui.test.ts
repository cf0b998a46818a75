// Swagger UI in a real headless Chromium with every non-loopback request blocked: the page must
// render and work from what kvstore itself serves.
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Locator, Page } from "playwright-core";
import { defaultServerConfig } from "../../src/server/config.ts";
import { type ServerHandle, startServer } from "../../src/server/serve.ts";
import { launchOfflineBrowser, offlinePage } from "./offline-browser.ts";

let dataDir: string;
let server: ServerHandle;
let browser: Browser;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "kvstore-swagger-"));
  server = await startServer(
    { ...defaultServerConfig, host: "127.0.0.1", port: 0, dataDir, logLevel: "error" },
    { handleSignals: false },
  );
  browser = await launchOfflineBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

describe("Swagger UI at /swagger", () => {
  it("renders every route from kvstore's own assets, with no other host contacted", async () => {
    const { page, blocked, failed } = await offlinePage(browser);
    await page.goto(`${server.url.origin}/swagger`);
    await page.locator(".opblock").first().waitFor();
    const summaries = await page.locator(".opblock-summary-path").allTextContents();
    const routes = summaries.map((text) => text.replace(/\u200b/g, "").trim());
    for (const route of ["/blobs/{key}", "/blobs", "/health", "/metrics"]) expect(routes).toContain(route);
    expect(await page.locator(".info .title").textContent()).toContain("kvstore");
    expect(blocked).toEqual([]);
    expect(failed).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('takes a token through "Authorize" and sends it with "Try it out"', async () => {
    const tokenDataDir = mkdtempSync(join(tmpdir(), "kvstore-swagger-token-"));
    const guarded = await startServer(
      {
        ...defaultServerConfig,
        host: "127.0.0.1",
        port: 0,
        dataDir: tokenDataDir,
        logLevel: "error",
        authToken: "swagger-token",
      },
      { handleSignals: false },
    );
    try {
      const { page, blocked } = await offlinePage(browser);
      await page.goto(`${guarded.url.origin}/swagger`);
      await page.locator(".btn.authorize").first().click();
      await page.locator(".modal-ux input").first().fill("swagger-token");
      await page.getByRole("button", { name: "Apply credentials" }).click();
      await page.locator(".modal-ux .btn-done").first().click();
      // /metrics needs the read role: without the token it would be a 401.
      expect((await tryItOut(page, "/metrics")).status).toBe("200");
      expect(blocked).toEqual([]);
      await page.context().close();
    } finally {
      await guarded.stop();
      rmSync(tokenDataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("offers a file to upload as a blob's body", async () => {
    const { page } = await offlinePage(browser);
    await page.goto(`${server.url.origin}/swagger`);
    const operation = page.locator(".opblock-put", {
      has: page.locator('.opblock-summary-path[data-path="/blobs/{key}"]'),
    });
    await operation.locator(".opblock-summary").click();
    await operation.getByRole("button", { name: "Try it out" }).click();
    expect(await operation.locator('input[type="file"]').count()).toBe(1);
    await page.context().close();
  }, 60_000);

  it('runs "Try it out" on GET /health and shows the 200', async () => {
    const { page, blocked } = await offlinePage(browser);
    await page.goto(`${server.url.origin}/swagger`);
    const { status, operation } = await tryItOut(page, "/health");
    expect(status).toBe("200");
    const body = operation.locator(".live-responses-table .response-col_description .microlight").first();
    expect(await body.textContent()).toContain('"status": "healthy"');
    expect(blocked).toEqual([]);
    await page.context().close();
  }, 60_000);
});

/** Opens the GET operation of `path` in Swagger UI, runs "Try it out", and returns the status shown. */
async function tryItOut(
  page: Page,
  path: string,
): Promise<{ status: string | undefined; operation: Locator }> {
  const operation = page.locator(".opblock-get", {
    has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
  });
  await operation.locator(".opblock-summary").click();
  await operation.getByRole("button", { name: "Try it out" }).click();
  await operation.getByRole("button", { name: "Execute" }).click();
  const status = operation.locator(".live-responses-table .response .response-col_status");
  await status.first().waitFor();
  return { status: (await status.first().textContent())?.trim(), operation };
}
