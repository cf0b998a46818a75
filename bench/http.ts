// HTTP benchmark: `kvstore serve` beside a bare Bun.serve that answers from a Map, loaded by wrk
// in the same run. Usage: bun bench/http.ts [--duration SECONDS] [--connections N]
// (defaults: 10 s and 64 connections per workload). Needs wrk: apt-get install -y wrk.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { defaultServerConfig } from "../src/server/config.ts";
import { startServer } from "../src/server/serve.ts";
import { tempDir } from "./harness.ts";

const { values: args } = parseArgs({
  options: { duration: { type: "string", default: "10" }, connections: { type: "string", default: "64" } },
});
const DURATION_SECONDS = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const SMALL_BYTES = 1024;
const LARGE_BYTES = 10 * 1024 * 1024;
/** GETs cycle over this many 1 KiB blobs, PUTs over as many keys. */
const SMALL_KEYS = 1000;

interface WrkResult {
  requestsPerSecond: number;
  transferPerSecond: string;
  latencyAverage: string;
  badResponses: number;
  socketErrors: string | null;
}

interface Workload {
  name: string;
  script: string;
}

const workloads: Workload[] = [
  {
    name: "GET 1 KiB",
    script: `local i = 0
request = function()
  i = i % ${SMALL_KEYS} + 1
  return wrk.format("GET", "/blobs/small-" .. i)
end`,
  },
  {
    name: "PUT 1 KiB",
    script: `local i = 0
local body = string.rep("x", ${SMALL_BYTES})
local headers = { ["Content-Type"] = "application/octet-stream" }
request = function()
  i = i % ${SMALL_KEYS} + 1
  return wrk.format("PUT", "/blobs/put-" .. i, headers, body)
end`,
  },
  { name: "GET 10 MiB", script: `request = function() return wrk.format("GET", "/blobs/large") end` },
];

function requireWrk(): string {
  const wrk = Bun.which("wrk");
  if (wrk === null) {
    console.error("bench/http.ts needs wrk, the HTTP load generator: apt-get install -y wrk");
    process.exit(1);
  }
  return wrk;
}

async function runWrk(wrk: string, origin: string, scriptPath: string): Promise<WrkResult> {
  // One wrk thread: this machine has two cores, and the server needs the other one.
  const child = Bun.spawn(
    [wrk, "-t1", `-c${CONNECTIONS}`, `-d${DURATION_SECONDS}s`, "--latency", "-s", scriptPath, origin],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [output, errors, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (exitCode !== 0) throw new Error(`wrk failed (${exitCode}): ${errors}${output}`);
  const field = (pattern: RegExp) => pattern.exec(output)?.[1];
  return {
    requestsPerSecond: Number(field(/Requests\/sec:\s+([\d.]+)/) ?? Number.NaN),
    transferPerSecond: field(/Transfer\/sec:\s+(\S+)/) ?? "?",
    latencyAverage: field(/Latency\s+(\S+)/) ?? "?",
    badResponses: Number(field(/Non-2xx or 3xx responses:\s+(\d+)/) ?? 0),
    socketErrors: field(/Socket errors:\s+(.+)/) ?? null,
  };
}

/**
 * A server with nothing in the way: Bun.serve and a Map, the ceiling for the same workloads.
 * It also serves `/file/large`, a 10 MiB file sent with sendfile: the loopback's own ceiling.
 */
function startBareServer(largeFile: string): { origin: string; stop(): Promise<void> } {
  const blobs = new Map<string, Uint8Array>();
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 2 * LARGE_BYTES,
    async fetch(request) {
      if (request.url.endsWith("/file/large")) {
        return new Response(Bun.file(largeFile), { headers: { "content-type": "application/octet-stream" } });
      }
      const key = request.url.slice(request.url.indexOf("/blobs/") + "/blobs/".length);
      if (request.method === "PUT") {
        blobs.set(key, await request.bytes());
        return new Response(null, { status: 201 });
      }
      const value = blobs.get(key);
      if (value === undefined) return new Response(null, { status: 404 });
      return new Response(value, { headers: { "content-type": "application/octet-stream" } });
    },
  });
  return { origin: `http://127.0.0.1:${server.port}`, stop: () => server.stop() };
}

async function seed(origin: string): Promise<void> {
  const small = new Uint8Array(SMALL_BYTES).fill(0x61);
  for (let i = 1; i <= SMALL_KEYS; i++) {
    const response = await fetch(`${origin}/blobs/small-${i}`, { method: "PUT", body: small });
    if (response.status !== 201) throw new Error(`seeding ${origin} failed: ${response.status}`);
  }
  const large = new Uint8Array(LARGE_BYTES);
  crypto.getRandomValues(large.subarray(0, 65536));
  const response = await fetch(`${origin}/blobs/large`, { method: "PUT", body: large });
  if (response.status !== 201) throw new Error(`seeding ${origin} failed: ${response.status}`);
}

async function measure(wrk: string, origin: string, scripts: Map<string, string>) {
  await seed(origin);
  const results = new Map<string, WrkResult>();
  for (const workload of workloads) {
    results.set(workload.name, await runWrk(wrk, origin, scripts.get(workload.name) as string));
  }
  return results;
}

function printResults(
  bare: Map<string, WrkResult>,
  kvstore: Map<string, WrkResult>,
  loopback: WrkResult,
): void {
  const rows = workloads.map(({ name }) => {
    const b = bare.get(name) as WrkResult;
    const k = kvstore.get(name) as WrkResult;
    return {
      workload: name,
      "bare req/s": Math.round(b.requestsPerSecond),
      "kvstore req/s": Math.round(k.requestsPerSecond),
      "kvstore/bare": `${((100 * k.requestsPerSecond) / b.requestsPerSecond).toFixed(0)}%`,
      "bare transfer/s": b.transferPerSecond,
      "kvstore transfer/s": k.transferPerSecond,
      "kvstore avg latency": k.latencyAverage,
    };
  });
  console.log(`\nwrk, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per workload, one wrk thread`);
  console.table(rows);
  for (const [server, results] of [
    ["bare", bare],
    ["kvstore", kvstore],
  ] as const) {
    for (const [name, result] of results) {
      if (result.badResponses > 0)
        console.log(`WARNING ${server} ${name}: ${result.badResponses} non-2xx answers`);
      if (result.socketErrors !== null)
        console.log(`WARNING ${server} ${name}: socket errors ${result.socketErrors}`);
    }
  }
  const ratio = (name: string) =>
    (kvstore.get(name)?.requestsPerSecond ?? 0) / (bare.get(name)?.requestsPerSecond ?? Number.NaN);
  const putRate = kvstore.get("PUT 1 KiB")?.requestsPerSecond ?? 0;
  console.log(`target GET 1 KiB >= 70% of bare: ${ratio("GET 1 KiB") >= 0.7 ? "met" : "MISSED"}`);
  console.log(`target durable PUT 1 KiB >= 20,000 req/s: ${putRate >= 20_000 ? "met" : "MISSED"}`);
  const large = kvstore.get("GET 10 MiB");
  console.log(
    `GET 10 MiB: kvstore ${large?.transferPerSecond}/s; loopback ceiling (bare Bun.serve, sendfile of a ` +
      `10 MiB file) ${loopback.transferPerSecond}/s, ${Math.round(loopback.requestsPerSecond)} req/s: ` +
      `kvstore at ${((100 * (large?.requestsPerSecond ?? 0)) / loopback.requestsPerSecond).toFixed(0)}%`,
  );
}

async function main(): Promise<void> {
  const wrk = requireWrk();
  const work = tempDir("kvstore-http-bench");
  try {
    const scripts = new Map<string, string>();
    for (const [i, workload] of workloads.entries()) {
      const path = join(work.path, `workload-${i}.lua`);
      writeFileSync(path, workload.script);
      scripts.set(workload.name, path);
    }

    const largeFile = join(work.path, "large.bin");
    writeFileSync(largeFile, new Uint8Array(LARGE_BYTES));
    const loopbackScript = join(work.path, "loopback.lua");
    writeFileSync(loopbackScript, `request = function() return wrk.format("GET", "/file/large") end`);
    const bareServer = startBareServer(largeFile);
    const bare = await measure(wrk, bareServer.origin, scripts);
    const loopback = await runWrk(wrk, bareServer.origin, loopbackScript);
    await bareServer.stop();

    const dataDir = join(work.path, "data");
    mkdirSync(dataDir);
    const kvstoreServer = await startServer(
      { ...defaultServerConfig, host: "127.0.0.1", port: 0, dataDir, sync: "always", logLevel: "warn" },
      { handleSignals: false },
    );
    const kvstore = await measure(wrk, kvstoreServer.url.origin, scripts);
    await kvstoreServer.stop();

    printResults(bare, kvstore, loopback);
  } finally {
    rmSync(work.path, { recursive: true, force: true });
  }
}

await main();
