// The admin dashboard's script: plain JavaScript, served as it is (nothing is built at run time).
// It calls the same HTTP API as any client, with the admin token the user entered, kept in
// sessionStorage so that it lasts as long as the tab and no longer.

const TOKEN_KEY = "kvstore-dashboard-token";
const REFRESH_MS = 3000;
const PAGE_SIZE = 20;
const TEXT_PREVIEW_BYTES = 64 * 1024;
const HEX_PREVIEW_BYTES = 4096;

const $ = (id) => document.getElementById(id);

/** A 401 or 403: shown in the message bar rather than beside the action that met it. */
class AccessRefused extends Error {}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

function showAccessMessage(text) {
  $("auth-message").textContent = text;
  $("auth-message").hidden = text === "";
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (typeof body.error === "string") return body.error;
  } catch {
    // Not JSON: the status says enough.
  }
  return response.statusText;
}

/** fetch() with the token; throws AccessRefused (after explaining it) on 401 and 403. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (token() !== "") headers.set("authorization", `Bearer ${token()}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) {
    showAccessMessage(
      token() === ""
        ? "This server needs an admin token: enter it above."
        : "The token was refused (401 Invalid token): check it and enter it again.",
    );
    throw new AccessRefused();
  }
  if (response.status === 403) {
    showAccessMessage(`The dashboard needs a token with the admin role (403): ${await errorText(response)}`);
    throw new AccessRefused();
  }
  return response;
}

function formatBytes(bytes) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// ---- Store figures ----

/** Sums of the request counter and latency histogram in a Prometheus text exposition. */
function requestTotals(exposition) {
  const totals = { requests: 0, seconds: 0, timed: 0 };
  for (const line of exposition.split("\n")) {
    const match = /^(\w+)(?:\{.*\})?\s+(\S+)$/.exec(line);
    if (match === null) continue;
    const value = Number(match[2]);
    if (match[1] === "kvstore_http_requests_total") totals.requests += value;
    if (match[1] === "kvstore_http_request_duration_seconds_sum") totals.seconds += value;
    if (match[1] === "kvstore_http_request_duration_seconds_count") totals.timed += value;
  }
  return { ...totals, at: performance.now() };
}

let previousTotals = null;

function showRequestFigures(totals) {
  // Rates need two readings; the first refresh leaves them blank.
  if (previousTotals !== null) {
    const seconds = (totals.at - previousTotals.at) / 1000;
    const requests = totals.requests - previousTotals.requests;
    const timed = totals.timed - previousTotals.timed;
    $("figure-rate").textContent = `${(requests / seconds).toFixed(1)} req/s`;
    $("figure-latency").textContent =
      timed === 0 ? "–" : `${(((totals.seconds - previousTotals.seconds) / timed) * 1000).toFixed(2)} ms`;
  }
  previousTotals = totals;
}

function showSegments(segments) {
  const largest = Math.max(1, ...segments.map((segment) => segment.bytes));
  const items = segments.map((segment) => {
    const item = document.createElement("li");
    item.dataset.segmentId = String(segment.id);
    const label = document.createElement("span");
    label.textContent = `#${segment.id}${segment.active ? " (active)" : ""}`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.title = `${formatBytes(segment.liveBytes)} live of ${formatBytes(segment.bytes)}`;
    const live = document.createElement("span");
    live.className = "live";
    live.style.width = `${(segment.liveBytes / largest) * 100}%`;
    const dead = document.createElement("span");
    dead.className = "dead";
    dead.style.width = `${((segment.bytes - segment.liveBytes) / largest) * 100}%`;
    bar.append(live, dead);
    const size = document.createElement("span");
    size.textContent = formatBytes(segment.bytes);
    item.append(label, bar, size);
    return item;
  });
  $("segments").replaceChildren(...items);
}

function showStats({ volume_id, stats, segments }) {
  $("volume-id").textContent = volume_id;
  $("figure-keys").textContent = String(stats.numKeys);
  $("figure-segments").textContent = String(stats.numSegments);
  $("figure-disk").textContent = formatBytes(stats.totalBytes);
  $("figure-live-dead").textContent = `${formatBytes(stats.liveBytes)} / ${formatBytes(stats.deadBytes)}`;
  $("figure-compaction").textContent =
    `${stats.compacting ? "running" : "idle"}, ${stats.compactions} done` +
    (stats.compactions > 0 ? `, last ${stats.lastCompactionMs.toFixed(0)} ms` : "") +
    (stats.compactionFailures > 0 ? `, ${stats.compactionFailures} failed` : "");
  $("figure-snapshots").textContent = `${stats.snapshotsSaved} saved (on open: ${stats.snapshotOnOpen})`;
  $("figure-storage").textContent =
    stats.storageFailure !== null
      ? `FAILED: ${stats.storageFailure}`
      : stats.diskFull
        ? "disk full: new values refused"
        : "ok";
  showSegments(segments);
  $("updated-at").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

async function refreshFigures() {
  const [statsResponse, metricsResponse] = await Promise.all([
    api("/admin/stats"),
    api("/metrics", { headers: { accept: "text/plain" } }),
  ]);
  if (!statsResponse.ok) throw new Error(`/admin/stats: ${await errorText(statsResponse)}`);
  showStats(await statsResponse.json());
  if (metricsResponse.ok) showRequestFigures(requestTotals(await metricsResponse.text()));
  showAccessMessage("");
}

async function refreshQuietly() {
  try {
    await refreshFigures();
  } catch (error) {
    if (!(error instanceof AccessRefused)) $("updated-at").textContent = `refresh failed: ${error.message}`;
  }
}

async function keepRefreshing() {
  await refreshQuietly();
  setTimeout(keepRefreshing, REFRESH_MS);
}

// ---- Operations ----

async function runOperation(button, path, body) {
  button.disabled = true;
  $("action-result").textContent = `${button.textContent}…`;
  try {
    const init = { method: "POST" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { "content-type": "application/json" };
    }
    const response = await api(path, init);
    $("action-result").textContent = response.ok
      ? `${button.textContent}: done\n${JSON.stringify(await response.json(), null, 2)}`
      : `${button.textContent} failed (${response.status}): ${await errorText(response)}`;
    await refreshQuietly();
  } catch (error) {
    $("action-result").textContent =
      error instanceof AccessRefused ? "" : `${button.textContent} failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---- Key browser ----

/** `after` of each page seen so far; the last one is the page shown. */
let pageStarts = [""];
let nextAfter = null;

function blobPath(key) {
  return `/blobs/${encodeURIComponent(key)}`;
}

async function showKeyPage() {
  const after = pageStarts[pageStarts.length - 1];
  const query = new URLSearchParams({ prefix: $("prefix-input").value, limit: String(PAGE_SIZE + 1) });
  if (after !== "") query.set("after", after);
  const response = await api(`/blobs?${query}`);
  if (!response.ok) {
    $("page-info").textContent = `listing failed: ${await errorText(response)}`;
    return;
  }
  // One key more than a page tells whether there is a next page.
  const keys = await response.json();
  const shown = keys.slice(0, PAGE_SIZE);
  nextAfter = keys.length > PAGE_SIZE ? shown[shown.length - 1] : null;
  const items = shown.map((key) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = key;
    button.addEventListener("click", () => showValue(key).catch(reportValueError));
    item.append(button);
    return item;
  });
  $("key-list").replaceChildren(...items);
  $("page-info").textContent =
    shown.length === 0 ? "no keys" : `page ${pageStarts.length}: ${shown.length} keys`;
  $("previous-page").disabled = pageStarts.length === 1;
  $("next-page").disabled = nextAfter === null;
}

function browseQuietly() {
  showKeyPage().catch((error) => {
    if (!(error instanceof AccessRefused)) $("page-info").textContent = `listing failed: ${error.message}`;
  });
}

let shownKey = null;

function reportValueError(error) {
  if (!(error instanceof AccessRefused)) $("value-preview").textContent = `could not read: ${error.message}`;
}

function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = [...row].map((byte) => byte.toString(16).padStart(2, "0")).join(" ");
    const text = [...row]
      .map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : "."))
      .join("");
    lines.push(`${offset.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${text}`);
  }
  return lines.join("\n");
}

/** The value's first `limit` bytes (all of them when limit is undefined). */
async function valueBytes(key, size, limit) {
  if (size === 0) return new Uint8Array(0);
  const headers = limit !== undefined && size > limit ? { range: `bytes=0-${limit - 1}` } : {};
  const response = await api(blobPath(key), { headers });
  if (!response.ok) throw new Error(`${response.status} ${await errorText(response)}`);
  return new Uint8Array(await response.arrayBuffer());
}

let imageUrl = null;

async function showPreview(key, size, contentType) {
  const mode = document.querySelector('input[name="preview"]:checked').value;
  const preview = $("value-preview");
  preview.dataset.mode = mode;
  const image = $("value-image");
  if (imageUrl !== null) URL.revokeObjectURL(imageUrl);
  imageUrl = null;
  image.hidden = true;
  if (mode === "image") {
    const bytes = await valueBytes(key, size, undefined);
    // An untyped blob lets the browser sniff the format when the stored type says nothing.
    const type = contentType.startsWith("image/") ? contentType : "";
    imageUrl = URL.createObjectURL(new Blob([bytes], type === "" ? {} : { type }));
    preview.textContent = "";
    image.onerror = () => {
      image.hidden = true;
      preview.textContent = "Not an image this browser can show.";
    };
    image.src = imageUrl;
    image.hidden = false;
    return;
  }
  const limit = mode === "hex" ? HEX_PREVIEW_BYTES : TEXT_PREVIEW_BYTES;
  const bytes = await valueBytes(key, size, limit);
  const cut = size > bytes.length ? `\n… (first ${bytes.length} of ${size} bytes)` : "";
  preview.textContent = (mode === "hex" ? hexDump(bytes) : new TextDecoder().decode(bytes)) + cut;
}

async function showValue(key) {
  shownKey = key;
  const response = await api(blobPath(key), { method: "HEAD" });
  $("value-section").hidden = false;
  $("value-key").textContent = key;
  if (!response.ok) {
    $("value-preview").textContent =
      response.status === 404 ? "This key is gone." : `HEAD failed: ${response.status}`;
    return;
  }
  const size = Number(response.headers.get("content-length") ?? "0");
  const contentType = response.headers.get("content-type") ?? "";
  $("value-size").textContent = `${size} bytes`;
  $("value-etag").textContent = response.headers.get("etag") ?? "–";
  $("value-type").textContent = contentType || "–";
  // Absent for keys written through the library rather than over HTTP.
  $("value-modified").textContent = response.headers.get("last-modified") ?? "–";
  await showPreview(key, size, contentType);
}

// ---- Wiring ----

function start() {
  $("token-input").value = token();
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    refreshQuietly();
    browseQuietly();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-input").value = "";
    refreshQuietly();
  });
  $("compact-button").addEventListener("click", (event) => runOperation(event.target, "/admin/compact"));
  $("snapshot-button").addEventListener("click", (event) => runOperation(event.target, "/admin/snapshot"));
  $("backup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button");
    runOperation(button, "/admin/backup", { path: $("backup-path").value });
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    pageStarts = [""];
    browseQuietly();
  });
  $("next-page").addEventListener("click", () => {
    pageStarts.push(nextAfter);
    browseQuietly();
  });
  $("previous-page").addEventListener("click", () => {
    pageStarts.pop();
    browseQuietly();
  });
  for (const radio of document.querySelectorAll('input[name="preview"]')) {
    radio.addEventListener("change", () => {
      if (shownKey !== null) showValue(shownKey).catch(reportValueError);
    });
  }
  keepRefreshing();
  browseQuietly();
}

start();
