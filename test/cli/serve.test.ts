import { describe, expect, it } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readUntilListening } from "../fixtures/listening-log.ts";
import { IN_NEW_PID_NAMESPACE, pidNamespaceUnavailable } from "../fixtures/pid-namespace.ts";
import { binaryPath, childEnv, kvstore, projectRoot, useTempDirs } from "./binary.ts";

const dirs = useTempDirs();
const noPidNamespace = pidNamespaceUnavailable("the serve test across PID namespaces");

interface RunningServer {
  child: Bun.Subprocess<"ignore", "ignore", "pipe">;
  origin: string;
}

/** Starts `kvstore serve` on a port the OS picks, reads the address from its log line, waits until it answers. */
async function startServe(args: string[] = [], env: Record<string, string> = {}): Promise<RunningServer> {
  const child = Bun.spawn([binaryPath, "serve", "--port", "0", "--host", "127.0.0.1", ...args], {
    env: childEnv({ DATA_DIR: dirs.dataDir, ...env }),
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const { origin } = await readUntilListening(child.stderr);
  // The address is logged a moment before the signal handlers are in place; once /health has
  // answered, they are.
  expect((await fetch(`${origin}/health`)).status).toBe(200);
  return { child, origin };
}

describe("kvstore serve", () => {
  it("answers /health and /swagger, and stores blobs in the data directory", async () => {
    const server = await startServe(["--volume-id", "vol-test"]);
    try {
      const health = await fetch(`${server.origin}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: "healthy", volume_id: "vol-test" });

      const swagger = await fetch(`${server.origin}/swagger`);
      expect(swagger.status).toBe(200);
      expect(swagger.headers.get("content-type")).toContain("text/html");
      const openapi = await fetch(`${server.origin}/swagger/json`);
      expect(openapi.status).toBe(200);
      expect(await openapi.json()).toHaveProperty("paths");

      const put = await fetch(`${server.origin}/blobs/served`, { method: "POST", body: "over http" });
      expect(put.status).toBe(201);
    } finally {
      server.child.kill("SIGTERM");
    }
    expect(await server.child.exited).toBe(0);
    expect((await kvstore(["--data-dir", dirs.dataDir, "get", "served"])).stdout).toBe("over http");
  });

  it("serves the dashboard and its assets, embedded in the binary, and the stats it reads", async () => {
    const server = await startServe();
    const dashboardSources = join(projectRoot, "src/server/dashboard");
    try {
      for (const [path, file, type] of [
        ["/dashboard", "dashboard.html", "text/html"],
        ["/dashboard/dashboard.js", "dashboard.js", "text/javascript"],
        ["/dashboard/dashboard.css", "dashboard.css", "text/css"],
      ] as const) {
        const response = await fetch(`${server.origin}${path}`);
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toContain(type);
        expect(await response.text()).toBe(readFileSync(join(dashboardSources, file), "utf8"));
      }
      const stats = await fetch(`${server.origin}/admin/stats`);
      expect(stats.status).toBe(200);
      expect(await stats.json()).toMatchObject({ segments: [{ id: 1, active: true }] });
    } finally {
      server.child.kill("SIGTERM");
      await server.child.exited;
    }
  });

  it("shuts down cleanly on SIGTERM and SIGINT, releasing the data directory", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const server = await startServe();
      server.child.kill(signal);
      expect(await server.child.exited).toBe(0);
      expect((await kvstore(["--data-dir", dirs.dataDir, "stats"])).exitCode).toBe(0);
    }
  });

  it("takes its settings from the environment, with flags above them", async () => {
    const server = await startServe(["--volume-id", "from-flag"], { VOLUME_ID: "from-env" });
    try {
      expect(await (await fetch(`${server.origin}/health`)).json()).toMatchObject({ volume_id: "from-flag" });
    } finally {
      server.child.kill("SIGTERM");
      await server.child.exited;
    }
  });

  it("exits 2 with the usage for a setting it cannot use", async () => {
    for (const args of [["--port", "not-a-port"], ["--bogus"], ["extra-argument"]]) {
      const result = await kvstore(["serve", ...args], { env: { DATA_DIR: dirs.dataDir } });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain("Usage: kvstore [--data-dir DIR] serve [FLAGS]");
    }
    expect((await kvstore(["serve", "--port", "abc"], { env: { PORT: "1" } })).stderr).toContain("--port");
  });

  it("prints its help for serve --help", async () => {
    const help = await kvstore(["serve", "--help"]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("VOLUME_ID");
  });

  it("exits 1 when another process holds the data directory", async () => {
    const server = await startServe();
    try {
      const second = await kvstore(["serve", "--port", "0"], { env: { DATA_DIR: dirs.dataDir } });
      expect(second.exitCode).toBe(1);
      expect(second.stderr).toContain(`locked by process ${server.child.pid}`);
    } finally {
      server.child.kill("SIGTERM");
      await server.child.exited;
    }
  });

  it.skipIf(noPidNamespace !== null)(
    "exits 1, and leaves the server's lock alone, when run in another PID namespace (another container)",
    async () => {
      const server = await startServe();
      try {
        const env = { DATA_DIR: dirs.dataDir };
        const under = IN_NEW_PID_NAMESPACE;
        const second = await kvstore(["serve", "--port", "0"], { env, under });
        expect(second.exitCode).toBe(1);
        expect(second.stderr).toContain(`locked by process ${server.child.pid} of another PID namespace`);
        expect((await kvstore(["set", "k", "v"], { env, under })).exitCode).toBe(1);
        // Still locked for everyone: neither refused command released or deleted the server's lock.
        expect((await kvstore(["set", "k", "v"], { env })).exitCode).toBe(1);
      } finally {
        server.child.kill("SIGTERM");
      }
      expect(await server.child.exited).toBe(0);
    },
    60_000,
  );
});

describe("the Docker image's HEALTHCHECK", () => {
  const dockerfile = readFileSync(join(projectRoot, "Dockerfile"), "utf8");
  const probe = /^HEALTHCHECK .*\\\n\s*CMD (.+)$/m.exec(dockerfile)?.[1];

  /** Runs the probe as Docker would: a shell in the image, where kvstore is on the PATH. */
  async function runProbe(port: string): Promise<number> {
    const shell = Bun.spawn(["sh", "-c", probe ?? "exit 99"], {
      env: childEnv({ PATH: `${dirname(binaryPath)}:${process.env.PATH}`, PORT: port }),
      stdout: "ignore",
      stderr: "ignore",
    });
    return shell.exited;
  }

  it("passes while the server answers and fails once it has stopped", async () => {
    expect(probe).toBeDefined();
    const server = await startServe();
    const port = new URL(server.origin).port;
    try {
      expect(await runProbe(port)).toBe(0);
    } finally {
      server.child.kill("SIGTERM");
      await server.child.exited;
    }
    expect(await runProbe(port)).not.toBe(0);
  });
});
