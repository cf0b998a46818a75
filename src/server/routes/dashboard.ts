import { Elysia } from "elysia";
import { dashboardAssets } from "../dashboard/dashboard-assets.ts";

// Only what the server itself serves: a second line of defence behind the page's own markup.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' blob: data:; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

function asset(path: string, contentType: string) {
  return () =>
    new Response(Bun.file(path), {
      headers: {
        "content-type": contentType,
        "cache-control": "no-cache",
        "content-security-policy": CONTENT_SECURITY_POLICY,
        "x-content-type-options": "nosniff",
      },
    });
}

/**
 * The admin dashboard: a page, its script and its stylesheet, open to anyone (they hold no data).
 * The script asks for the admin token and sends it with every API call it makes.
 */
export function dashboardRoutes() {
  const hidden = { detail: { hide: true } };
  return new Elysia({ name: "kvstore/dashboard" })
    .get("/dashboard", asset(dashboardAssets.page, "text/html; charset=utf-8"), hidden)
    .get("/dashboard/dashboard.js", asset(dashboardAssets.script, "text/javascript; charset=utf-8"), hidden)
    .get("/dashboard/dashboard.css", asset(dashboardAssets.stylesheet, "text/css; charset=utf-8"), hidden);
}
