// HTTP benchmark: `kvstore serve` (child processes) without and with a token (AUTH_TOKEN) beside
// a bare Bun.serve (in this process) that answers from a Map, loaded by wrk in the same run: for each workload the three servers are
// loaded one after the other, so the ratios compare neighbouring measurements.
// Usage: bun bench/http.ts [--duration SECONDS] [--connections N] [--rounds N]
// (defaults: 10 s and 64 connections per workload, 1 round). With several rounds, each round
// starts the rotation at the next server and the table shows medians: on a shared machine one
// 10 s measurement moves by more than the 5% that auth may cost. Needs wrk: apt-get install -y wrk.
import { timingSafeEqual } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { tempDir } from "./harness.ts";

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "64" },
    rounds: { type: "string", default: "1" },
  },
});
const ROUNDS = Number(args.rounds);
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
  /** The wrk script; `headers` is a Lua table constructor for the request headers. */
  script(headers: string): string;
}

const workloads: Workload[] = [
  {
    name: "GET 1 KiB",
    script: (headers) => `local i = 0
local headers = ${headers}
request = function()
  i = i % ${SMALL_KEYS} + 1
  return wrk.format("GET", "/blobs/small-" .. i, headers)
end`,
  },
  {
    name: "PUT 1 KiB",
    script: (headers) => `local i = 0
local body = string.rep("x", ${SMALL_BYTES})
local headers = ${headers}
headers["Content-Type"] = "application/octet-stream"
request = function()
  i = i % ${SMALL_KEYS} + 1
  return wrk.format("PUT", "/blobs/put-" .. i, headers, body)
end`,
  },
  {
    name: "GET 10 MiB",
    script: (headers) => `local headers = ${headers}
request = function() return wrk.format("GET", "/blobs/large", headers) end`,
  },
];

/** The token of the authenticated kvstore: an admin token of the length `openssl rand -base64 32` gives. */
const AUTH_TOKEN = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

interface Target {
  name: string;
  origin: string;
  /** Extra request headers, for wrk's scripts and for seeding. */
  headers: Record<string, string>;
  stop(): Promise<void>;
}

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
 * With `checks`, it also does the least that the safe server must do per request (see
 * `requiredChecks`), so that the cost of that work on Bun is measured apart from kvstore's.
 */
function startBareServer(largeFile: string, checks: boolean): { origin: string; stop(): Promise<void> } {
  const blobs = new Map<string, Uint8Array>();
  const refusal = checks ? requiredChecks() : () => null;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 2 * LARGE_BYTES,
    async fetch(request) {
      if (request.url.endsWith("/file/large")) {
        return new Response(Bun.file(largeFile), { headers: { "content-type": "application/octet-stream" } });
      }
      const refused = refusal(request);
      if (refused !== null) return refused;
      const key = request.url.slice(request.url.indexOf("/blobs/") + "/blobs/".length);
      if (request.method === "PUT") {
        blobs.set(key, await request.bytes());
        return new Response(null, { status: 201 });
      }
      const value = blobs.get(key);
      if (value === undefined) return new Response(null, { status: 404 });
      if (!checks) return new Response(value, { headers: { "content-type": "application/octet-stream" } });
      return new Response(value, {
        headers: {
          "content-type": "application/octet-stream",
          "content-length": String(value.length),
          etag: '"c49aacf8080fe47f"',
          "accept-ranges": "bytes",
          "last-modified": "Wed, 25 Nov 2026 16:00:00 GMT",
          "content-security-policy": "sandbox",
          "x-content-type-options": "nosniff",
        },
      });
    },
  });
  return { origin: `http://127.0.0.1:${server.port}`, stop: () => server.stop() };
}

/**
 * What every request to the safe server costs at the least, as a bare check: the Host header
 * looked up among the allowed ones, the Origin header read, the bearer token parsed and compared
 * in constant time (SHA-256 of both sides). Its GET answers carry the headers kvstore sends:
 * the strong ETag, Last-Modified and the two that keep a blob from running as a page.
 */
function requiredChecks(): (request: Request) => Response | null {
  const grant = Bun.SHA256.hash(AUTH_TOKEN) as Uint8Array;
  const allowedHosts = new Map<string, boolean>();
  return (request) => {
    const host = request.headers.get("host") ?? "";
    let allowed = allowedHosts.get(host);
    if (allowed === undefined) {
      allowed = host.startsWith("127.0.0.1:");
      allowedHosts.set(host, allowed);
    }
    if (!allowed) return new Response(null, { status: 421 });
    if (request.headers.get("origin") !== null) return new Response(null, { status: 403 });
    const token = /^Bearer[ ]+(\S+)[ ]*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    const presented = Bun.SHA256.hash(token ?? "") as Uint8Array;
    if (token === undefined || !timingSafeEqual(grant, presented)) return new Response(null, { status: 401 });
    return null;
  };
}

async function seed(target: Target): Promise<void> {
  const put = async (key: string, body: Uint8Array) => {
    const response = await fetch(`${target.origin}/blobs/${key}`, {
      method: "PUT",
      body,
      headers: target.headers,
    });
    if (response.status !== 201) throw new Error(`seeding ${target.name} failed: ${response.status}`);
  };
  const small = new Uint8Array(SMALL_BYTES).fill(0x61);
  for (let i = 1; i <= SMALL_KEYS; i++) await put(`small-${i}`, small);
  const large = new Uint8Array(LARGE_BYTES);
  crypto.getRandomValues(large.subarray(0, 65536));
  await put("large", large);
}

/** A Lua table constructor holding `headers`. */
function luaTable(headers: Record<string, string>): string {
  const fields = Object.entries(headers).map(
    ([name, value]) => `[${JSON.stringify(name)}] = ${JSON.stringify(value)}`,
  );
  return `{ ${fields.join(", ")} }`;
}

/** Results by workload, then target: one per round. */
type Results = Map<string, Map<string, WrkResult[]>>;

/** For each round and workload, loads every target in turn, starting one further each round. */
async function measure(wrk: string, directory: string, targets: Target[]): Promise<Results> {
  for (const target of targets) await seed(target);
  const results: Results = new Map(workloads.map(({ name }) => [name, new Map()]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [w, workload] of workloads.entries()) {
      for (let n = 0; n < targets.length; n++) {
        const t = (round + n) % targets.length;
        const target = targets[t] as Target;
        const script = join(directory, `workload-${w}-${t}.lua`);
        writeFileSync(script, workload.script(luaTable(target.headers)));
        const byTarget = results.get(workload.name) as Map<string, WrkResult[]>;
        const runs = byTarget.get(target.name) ?? [];
        runs.push(await runWrk(wrk, target.origin, script));
        byTarget.set(target.name, runs);
      }
    }
  }
  return results;
}

/** The run with the median request rate (the lower middle one for an even count). */
function median(runs: WrkResult[]): WrkResult {
  const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)] as WrkResult;
}

function printResults(results: Results, loopback: WrkResult): void {
  const runs = (workload: string, target: string) => results.get(workload)?.get(target) as WrkResult[];
  const result = (workload: string, target: string) => median(runs(workload, target));
  const percentOfBare = (workload: string, target: string) =>
    result(workload, target).requestsPerSecond / result(workload, "bare").requestsPerSecond;
  const rows = workloads.map(({ name }) => {
    const open = result(name, "kvstore");
    const auth = result(name, "kvstore auth");
    return {
      workload: name,
      "bare req/s": Math.round(result(name, "bare").requestsPerSecond),
      "kvstore req/s": Math.round(open.requestsPerSecond),
      "kvstore/bare": `${(100 * percentOfBare(name, "kvstore")).toFixed(0)}%`,
      "auth req/s": Math.round(auth.requestsPerSecond),
      "auth/bare": `${(100 * percentOfBare(name, "kvstore auth")).toFixed(0)}%`,
      "bare + checks/bare": `${(100 * percentOfBare(name, "bare + checks")).toFixed(0)}%`,
      "kvstore transfer/s": open.transferPerSecond,
      "auth avg latency": auth.latencyAverage,
    };
  });
  console.log(
    `\nwrk, ${CONNECTIONS} connections, ${DURATION_SECONDS} s per workload, one wrk thread` +
      (ROUNDS > 1 ? `; medians of ${ROUNDS} rounds` : ""),
  );
  console.log('"auth": kvstore with AUTH_TOKEN set, every request sending Authorization: Bearer <token>');
  console.log(
    '"bare + checks": the bare server also checking Host, Origin and the token, and sending the GET headers kvstore sends',
  );
  console.table(rows);
  for (const [workload, byTarget] of results) {
    for (const [target, outcome] of [...byTarget].flatMap(([name, all]) =>
      all.map((one) => [name, one] as const),
    )) {
      if (outcome.badResponses > 0)
        console.log(`WARNING ${target} ${workload}: ${outcome.badResponses} non-2xx answers`);
      if (outcome.socketErrors !== null)
        console.log(`WARNING ${target} ${workload}: socket errors ${outcome.socketErrors}`);
    }
  }
  if (ROUNDS > 1) {
    for (const { name } of workloads) {
      const perRound = runs(name, "kvstore").map((open, round) => {
        const auth = runs(name, "kvstore auth")[round] as WrkResult;
        return `${((100 * auth.requestsPerSecond) / open.requestsPerSecond).toFixed(0)}%`;
      });
      console.log(`${name}, kvstore auth / kvstore by round: ${perRound.join(", ")}`);
    }
  }
  const getOpen = percentOfBare("GET 1 KiB", "kvstore");
  const getAuth = percentOfBare("GET 1 KiB", "kvstore auth");
  console.log(`target GET 1 KiB >= 70% of bare: ${getOpen >= 0.7 ? "met" : "MISSED"}`);
  console.log(
    `target GET 1 KiB with auth within 5% of the ratio without: ${(100 * getAuth).toFixed(0)}% against ` +
      `${(100 * getOpen).toFixed(0)}%, ${getAuth >= 0.95 * getOpen ? "met" : "MISSED"}`,
  );
  for (const target of ["kvstore", "kvstore auth"]) {
    const putRate = result("PUT 1 KiB", target).requestsPerSecond;
    console.log(
      `target ${target} durable PUT 1 KiB >= 20,000 req/s: ${putRate >= 20_000 ? "met" : "MISSED"}`,
    );
  }
  const large = result("GET 10 MiB", "kvstore");
  console.log(
    `GET 10 MiB: kvstore ${large.transferPerSecond}/s; loopback ceiling (bare Bun.serve, sendfile of a ` +
      `10 MiB file) ${loopback.transferPerSecond}/s, ${Math.round(loopback.requestsPerSecond)} req/s: ` +
      `kvstore at ${((100 * large.requestsPerSecond) / loopback.requestsPerSecond).toFixed(0)}%`,
  );
}

/**
 * `kvstore serve` in a child process of its own, as it runs in production. With both kvstore
 * servers in the bench's process (one heap, one event loop), the one with a token answered GET
 * 1 KiB 25% slower in every round, where a CPU profile put the token check at 2-4% of a request.
 */
async function startKvstore(name: string, dataDir: string, authToken: string | undefined): Promise<Target> {
  mkdirSync(dataDir);
  const env: Record<string, string | undefined> = { ...process.env, AUTH_TOKEN: authToken };
  if (authToken === undefined) delete env.AUTH_TOKEN;
  const child = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "../src/main.ts"),
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ].concat(["--data-dir", dataDir, "--sync", "always"]),
    { env, stdout: "inherit", stderr: "pipe" },
  );
  // The server logs on stderr; its first line says where it listens ("listening on
  // http://127.0.0.1:PORT with data in ..."). The rest is drained so that the pipe never fills.
  const reader = child.stderr.getReader();
  const decoder = new TextDecoder();
  let log = "";
  let origin: string | undefined;
  while (origin === undefined) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`kvstore serve (${name}) did not start: ${log}`);
    log += decoder.decode(value, { stream: true });
    origin = /listening on (\S+)/.exec(log)?.[1];
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();
  const headers: Record<string, string> =
    authToken === undefined ? {} : { authorization: `Bearer ${authToken}` };
  const stop = async () => {
    child.kill("SIGTERM");
    await child.exited;
  };
  return { name, origin, headers, stop };
}

async function main(): Promise<void> {
  const wrk = requireWrk();
  const work = tempDir("kvstore-http-bench");
  const targets: Target[] = [];
  try {
    const largeFile = join(work.path, "large.bin");
    writeFileSync(largeFile, new Uint8Array(LARGE_BYTES));
    const bare = startBareServer(largeFile, false);
    targets.push({ name: "bare", origin: bare.origin, headers: {}, stop: bare.stop });
    const checked = startBareServer(largeFile, true);
    const bearer = { authorization: `Bearer ${AUTH_TOKEN}` };
    targets.push({ name: "bare + checks", origin: checked.origin, headers: bearer, stop: checked.stop });
    targets.push(await startKvstore("kvstore", join(work.path, "open"), undefined));
    targets.push(await startKvstore("kvstore auth", join(work.path, "auth"), AUTH_TOKEN));

    const results = await measure(wrk, work.path, targets);
    const loopbackScript = join(work.path, "loopback.lua");
    writeFileSync(loopbackScript, `request = function() return wrk.format("GET", "/file/large") end`);
    const loopback = await runWrk(wrk, bare.origin, loopbackScript);
    printResults(results, loopback);
  } finally {
    for (const target of targets) await target.stop();
    rmSync(work.path, { recursive: true, force: true });
  }
}

await main();
