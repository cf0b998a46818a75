// The startup rules of `kvstore serve` (protected mode, tokens file, TLS, HOST), through the
// compiled binary, and the Host check over a real socket.
import { describe, expect, it } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readUntilListening } from "../fixtures/listening-log.ts";
import { openRawConnection } from "../server/raw-connection.ts";
import { binaryPath, childEnv, kvstore, projectRoot, useTempDirs } from "./binary.ts";

const dirs = useTempDirs();

interface RunningServer {
  child: Bun.Subprocess<"ignore", "ignore", "pipe">;
  /** Where to connect: the logged address, with a wildcard replaced by 127.0.0.1. */
  origin: string;
}

async function startServe(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const child = Bun.spawn([binaryPath, "serve", "--port", "0", ...args], {
    env: childEnv({ DATA_DIR: dirs.dataDir, ...env }),
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const { origin } = await readUntilListening(child.stderr);
  return { child, origin: origin.replace("0.0.0.0", "127.0.0.1") };
}

async function stop(server: RunningServer): Promise<number> {
  server.child.kill("SIGTERM");
  return server.child.exited;
}

const openssl = Bun.which("openssl");
if (openssl === null) console.warn("SKIPPING the TLS tests of kvstore serve: openssl is not on the PATH");

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
function selfSignedCertificate(): { cert: string; key: string } {
  const cert = join(dirs.tempDir, "cert.pem");
  const key = join(dirs.tempDir, "key.pem");
  const made = Bun.spawnSync(
    [
      openssl ?? "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
  return { cert, key };
}

const USAGE = "Usage: kvstore [--data-dir DIR] serve [FLAGS]";

describe("kvstore serve's protected mode", () => {
  it("listens on 127.0.0.1 by default", async () => {
    const server = await startServe([]);
    try {
      expect(server.origin).toStartWith("http://127.0.0.1:");
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });

  it("refuses, with exit 2, to listen beyond loopback with no token configured", async () => {
    for (const host of ["0.0.0.0", "::"]) {
      const result = await kvstore(["serve", "--port", "0", "--host", host], {
        env: { DATA_DIR: dirs.dataDir },
      });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`refusing to listen on ${host} with no token configured`);
      expect(result.stderr).toContain("--allow-unauthenticated");
    }
  });

  it("listens beyond loopback without a token when told to", async () => {
    const server = await startServe(["--host", "0.0.0.0"], { ALLOW_UNAUTHENTICATED: "1" });
    try {
      expect((await fetch(`${server.origin}/blobs/k`, { method: "PUT", body: "v" })).status).toBe(201);
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });

  it("listens beyond loopback with AUTH_TOKEN, and asks every blob request for it", async () => {
    const server = await startServe(["--host", "0.0.0.0"], { AUTH_TOKEN: "admin-secret" });
    try {
      expect((await fetch(`${server.origin}/health`)).status).toBe(200);
      const refused = await fetch(`${server.origin}/blobs/k`, { method: "PUT", body: "v" });
      expect(refused.status).toBe(401);
      const headers = { authorization: "Bearer admin-secret" };
      expect((await fetch(`${server.origin}/blobs/k`, { method: "PUT", body: "v", headers })).status).toBe(
        201,
      );
      expect((await fetch(`${server.origin}/admin/snapshot`, { method: "POST", headers })).status).toBe(200);
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });

  it("takes roles from a tokens file", async () => {
    const file = join(dirs.tempDir, "tokens");
    writeFileSync(file, "# roles\nread reader-1\nwrite writer-1\n");
    const server = await startServe(["--auth-tokens", file]);
    try {
      const put = (token: string) =>
        fetch(`${server.origin}/blobs/k`, {
          method: "PUT",
          body: "v",
          headers: { authorization: `Bearer ${token}` },
        });
      expect((await put("reader-1")).status).toBe(403);
      expect((await put("writer-1")).status).toBe(201);
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });

  it("exits 2 naming the line of a bad tokens file, or the file it cannot read", async () => {
    const file = join(dirs.tempDir, "tokens");
    writeFileSync(file, "read reader-1\nsuperuser secret-2\n");
    const bad = await kvstore(["serve", "--port", "0", "--auth-tokens", file], {
      env: { DATA_DIR: dirs.dataDir },
    });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain(`${file} line 2: expected "<role> <token>"`);
    expect(bad.stderr).not.toContain("secret-2");
    const missing = join(dirs.tempDir, "absent");
    const unreadable = await kvstore(["serve", "--port", "0"], {
      env: { DATA_DIR: dirs.dataDir, AUTH_TOKENS_FILE: missing },
    });
    expect(unreadable.exitCode).toBe(2);
    expect(unreadable.stderr).toContain(
      `cannot read the tokens file (AUTH_TOKENS_FILE) "${missing}": ENOENT`,
    );
  });

  it("exits 2 with a clear message for a HOST that does not resolve", async () => {
    const result = await kvstore(["serve", "--port", "0", "--host", "nosuch.invalid"], {
      env: { DATA_DIR: dirs.dataDir },
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('HOST "nosuch.invalid" does not resolve to an address');
    expect(result.stderr).toContain(USAGE);
  }, 30_000);

  it("refuses a request whose Host header names another site (DNS rebinding)", async () => {
    const server = await startServe([]);
    try {
      const connection = await openRawConnection(server.origin);
      try {
        connection.write("GET /blobs HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n");
        const response = await connection.waitFor(/\r\n\r\n.*\}/s);
        expect(response).toStartWith("HTTP/1.1 421");
        expect(response).toContain('"error":"Host \\"attacker.example\\" is not served here');
      } finally {
        connection.close();
      }
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });
});

describe("kvstore serve over TLS", () => {
  it("has openssl to make a test certificate (required under CI)", () => {
    if (process.env.CI === "true") expect(openssl).not.toBeNull();
  });

  it.skipIf(openssl === null)("serves HTTPS with --tls-cert and --tls-key", async () => {
    const { cert, key } = selfSignedCertificate();
    const server = await startServe(["--tls-cert", cert, "--tls-key", key]);
    try {
      expect(server.origin).toStartWith("https://127.0.0.1:");
      const ca = await Bun.file(cert).text();
      const put = await fetch(`${server.origin}/blobs/k`, { method: "PUT", body: "secret", tls: { ca } });
      expect(put.status).toBe(201);
      const get = await fetch(`${server.origin}/blobs/k`, { tls: { ca } });
      expect(await get.text()).toBe("secret");
      const plain = server.origin.replace("https:", "http:");
      await expect(fetch(`${plain}/health`)).rejects.toThrow();
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });

  it.skipIf(openssl === null)("exits 2 naming a certificate or key file it cannot read", async () => {
    const { cert } = selfSignedCertificate();
    const missing = join(dirs.tempDir, "no-key.pem");
    const result = await kvstore(["serve", "--port", "0", "--tls-cert", cert, "--tls-key", missing], {
      env: { DATA_DIR: dirs.dataDir },
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`cannot read the TLS key (TLS_KEY) "${missing}": ENOENT`);
    const lone = await kvstore(["serve", "--port", "0", "--tls-cert", cert], {
      env: { DATA_DIR: dirs.dataDir },
    });
    expect(lone.exitCode).toBe(2);
    expect(lone.stderr).toContain("TLS needs both --tls-cert (TLS_CERT) and --tls-key (TLS_KEY)");
  });
});

describe("the Docker image and compose file", () => {
  const dockerfile = readFileSync(join(projectRoot, "Dockerfile"), "utf8");
  const compose = readFileSync(join(projectRoot, "docker-compose.yml"), "utf8");

  it("listen on every interface and take the token from the environment, never a literal", () => {
    expect(dockerfile).toMatch(/^\s+HOST=0\.0\.0\.0 \\$/m);
    const instructions = dockerfile.replace(/^#.*$/gm, "");
    expect(instructions).not.toContain("AUTH_TOKEN");
    const services = compose.match(/^ {2}volume-\d:$/gm) ?? [];
    expect(services.length).toBe(3);
    expect(compose.match(/^ {6}HOST: 0\.0\.0\.0$/gm)?.length).toBe(services.length);
    // Compose refuses to start when the variable is unset (`:?`), rather than passing an empty token.
    const tokens = compose.match(/^ {6}AUTH_TOKEN: .*$/gm) ?? [];
    expect(tokens.length).toBe(services.length);
    for (const token of tokens) expect(token).toMatch(/^ {6}AUTH_TOKEN: \$\{KVSTORE_AUTH_TOKEN:\?[^}]+\}$/);
  });

  it("keep the HEALTHCHECK working on a server with a token, since /health is open", async () => {
    const probe = /^HEALTHCHECK .*\\\n\s*CMD (.+)$/m.exec(dockerfile)?.[1];
    expect(probe).toBeDefined();
    const server = await startServe(["--host", "0.0.0.0"], { AUTH_TOKEN: "admin-secret" });
    try {
      const shell = Bun.spawn(["sh", "-c", probe ?? "exit 99"], {
        env: childEnv({
          PATH: `${dirname(binaryPath)}:${process.env.PATH}`,
          PORT: new URL(server.origin).port,
        }),
        stdout: "ignore",
        stderr: "ignore",
      });
      expect(await shell.exited).toBe(0);
    } finally {
      expect(await stop(server)).toBe(0);
    }
  });
});
