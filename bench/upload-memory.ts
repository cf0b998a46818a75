// Peak resident memory (VmHWM) of a server process while 4 uploads of 100 MiB run at once, once
// with Content-Length and once chunked, each on a fresh server. Linux only (/proc).
// Usage: bun bench/upload-memory.ts [path/to/src/main.ts ...]: each server script given is
// measured in turn (default: this checkout's), to compare checkouts in one run, e.g. with an
// older one exported by `git archive <commit> src | tar -x -C /tmp/old` (and its node_modules linked).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { tempDir } from "./harness.ts";

const UPLOADS = 4;
const UPLOAD_BYTES = 100 * 2 ** 20;
/** Chunked bodies are sent in pieces of this size. */
const PIECE_BYTES = 256 * 1024;
const mainScripts = (process.argv.length > 2 ? process.argv.slice(2) : ["src/main.ts"]).map((path) =>
  resolve(path),
);

function peakResidentMiB(pid: number): number {
  const line = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(line?.[1] ?? Number.NaN) / 1024;
}

async function startServer(mainScript: string, dataDir: string) {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = Bun.spawn(
    [process.execPath, mainScript, "serve", "--port", String(port), "--data-dir", dataDir, "--sync", "never"],
    { stdout: "ignore", stderr: "ignore", env: { ...process.env, LOG_LEVEL: "warn" } },
  );
  const origin = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    try {
      if ((await fetch(`${origin}/health`)).ok) return { child, origin };
    } catch {
      if (tries > 200) throw new Error("the server did not start");
      await Bun.sleep(50);
    }
  }
}

function chunkedBody(value: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= value.length) return controller.close();
      controller.enqueue(value.subarray(at, at + PIECE_BYTES));
      at += PIECE_BYTES;
    },
  });
}

async function measure(
  mainScript: string,
  mode: "Content-Length" | "chunked",
): Promise<{ mode: string; peak: number; idle: number; statuses: string }> {
  const dir = tempDir("kv-upload-memory");
  const { child, origin } = await startServer(mainScript, dir.path);
  const idle = peakResidentMiB(child.pid);
  const value = new Uint8Array(UPLOAD_BYTES).fill(42);
  const responses = await Promise.all(
    Array.from({ length: UPLOADS }, (_, i) =>
      fetch(`${origin}/blobs/upload-${i}`, {
        method: "PUT",
        body: mode === "chunked" ? chunkedBody(value) : value,
      }),
    ),
  );
  const peak = peakResidentMiB(child.pid);
  child.kill();
  await child.exited;
  dir.remove();
  return { mode, peak, idle, statuses: responses.map((response) => response.status).join(",") };
}

console.log(`${UPLOADS} concurrent uploads of ${UPLOAD_BYTES / 2 ** 20} MiB`);
console.log("server                         | body            | peak RSS (VmHWM) | RSS at start | statuses");
for (const mainScript of mainScripts) {
  for (const mode of ["Content-Length", "chunked"] as const) {
    const { peak, idle, statuses } = await measure(mainScript, mode);
    console.log(
      `${mainScript.slice(-30).padEnd(30)} | ${mode.padEnd(15)} | ${peak.toFixed(0).padStart(12)} MiB | ` +
        `${idle.toFixed(0).padStart(8)} MiB | ${statuses}`,
    );
  }
}
