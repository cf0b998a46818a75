import { describe, expect, it } from "bun:test";
import { ConfigError, defaultServerConfig, loadServerConfig } from "../../src/server/config.ts";

const MiB = 1024 * 1024;

function configError(args: string[], env: Record<string, string> = {}): string {
  try {
    loadServerConfig(args, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify({ args, env })}`);
}

describe("loadServerConfig", () => {
  it("starts from the documented defaults", () => {
    expect(loadServerConfig([], {})).toEqual({
      port: 8000,
      host: "127.0.0.1",
      dataDir: "./data",
      volumeId: "vol-1",
      sync: "always",
      maxBodyBytes: 100 * MiB,
      uploadBudgetBytes: undefined,
      bodyIdleSeconds: 30,
      maxSegmentBytes: undefined,
      compactionThreshold: undefined,
      reserveBytes: undefined,
      logLevel: "info",
      authToken: undefined,
      authTokensFile: undefined,
      allowUnauthenticated: false,
      metricsPublic: false,
      allowedHosts: [],
      corsOrigins: [],
      tlsCert: undefined,
      tlsKey: undefined,
    });
    expect(loadServerConfig([], {})).toEqual(defaultServerConfig);
  });

  it("reads every setting from its environment variable", () => {
    const env = {
      PORT: "9000",
      HOST: "127.0.0.1",
      DATA_DIR: "/srv/kv",
      VOLUME_ID: "vol-9",
      SYNC: "interval",
      MAX_BODY_MB: "2.5",
      UPLOAD_BUDGET_MB: "10",
      BODY_IDLE_SECONDS: "5",
      SEGMENT_MB: "16",
      COMPACTION_THRESHOLD: "4",
      RESERVE_MB: "2",
      LOG_LEVEL: "debug",
      AUTH_TOKEN: "secret",
      AUTH_TOKENS_FILE: "/etc/kv/tokens",
      ALLOW_UNAUTHENTICATED: "1",
      METRICS_PUBLIC: "true",
      ALLOWED_HOSTS: "kv.example, KV2.example",
      CORS_ORIGINS: "https://app.example,https://b.example",
      TLS_CERT: "/etc/kv/cert.pem",
      TLS_KEY: "/etc/kv/key.pem",
    };
    expect(loadServerConfig([], env)).toEqual({
      port: 9000,
      host: "127.0.0.1",
      dataDir: "/srv/kv",
      volumeId: "vol-9",
      sync: "interval",
      maxBodyBytes: 2.5 * MiB,
      uploadBudgetBytes: 10 * MiB,
      bodyIdleSeconds: 5,
      maxSegmentBytes: 16 * MiB,
      compactionThreshold: 4,
      reserveBytes: 2 * MiB,
      logLevel: "debug",
      authToken: "secret",
      authTokensFile: "/etc/kv/tokens",
      allowUnauthenticated: true,
      metricsPublic: true,
      allowedHosts: ["kv.example", "kv2.example"],
      corsOrigins: ["https://app.example", "https://b.example"],
      tlsCert: "/etc/kv/cert.pem",
      tlsKey: "/etc/kv/key.pem",
    });
    expect(loadServerConfig(["--reserve-mb", "0"], {}).reserveBytes).toBe(0);
  });

  it("lets flags, in either form, override the environment", () => {
    const config = loadServerConfig(
      [
        "--port",
        "9100",
        "--volume-id=from-flag",
        "--data-dir",
        "/flag",
        "--sync=never",
        "--max-body-mb",
        "1",
      ],
      { PORT: "9000", VOLUME_ID: "from-env", DATA_DIR: "/env", SYNC: "always", LOG_LEVEL: "warn" },
    );
    expect(config).toMatchObject({
      port: 9100,
      volumeId: "from-flag",
      dataDir: "/flag",
      sync: "never",
      maxBodyBytes: MiB,
      logLevel: "warn",
    });
    expect(
      loadServerConfig(["--segment-mb=0.5", "--compaction-threshold", "2", "--log-level", "error"], {}),
    ).toMatchObject({ maxSegmentBytes: MiB / 2, compactionThreshold: 2, logLevel: "error" });
  });

  it("takes switches as flags without a value, and the token from the environment only", () => {
    const config = loadServerConfig(["--allow-unauthenticated", "--metrics-public", "--port", "1"], {
      ALLOW_UNAUTHENTICATED: "0",
    });
    expect(config).toMatchObject({ allowUnauthenticated: true, metricsPublic: true, port: 1 });
    expect(loadServerConfig(["--metrics-public=false"], { METRICS_PUBLIC: "1" }).metricsPublic).toBe(false);
    expect(configError([], { METRICS_PUBLIC: "yes" })).toBe(
      'invalid METRICS_PUBLIC "yes": expected 1, true, 0 or false',
    );
    expect(configError(["--auth-token", "x"])).toContain('unknown argument "--auth-token"');
  });

  it("needs both TLS files or neither", () => {
    const message = "TLS needs both --tls-cert (TLS_CERT) and --tls-key (TLS_KEY), or neither";
    expect(configError(["--tls-cert", "cert.pem"])).toBe(message);
    expect(configError([], { TLS_KEY: "key.pem" })).toBe(message);
  });

  it("needs an upload budget that holds at least one body of the largest size", () => {
    expect(configError(["--max-body-mb", "10", "--upload-budget-mb", "5"])).toBe(
      "--upload-budget-mb (UPLOAD_BUDGET_MB) must be at least --max-body-mb (MAX_BODY_MB)",
    );
    expect(loadServerConfig(["--body-idle-seconds", "1"], {}).bodyIdleSeconds).toBe(1);
  });

  it("ignores empty environment variables", () => {
    expect(loadServerConfig([], { PORT: "", VOLUME_ID: "" })).toMatchObject({
      port: 8000,
      volumeId: "vol-1",
    });
  });

  it("accepts port 0, which lets the OS pick", () => {
    expect(loadServerConfig(["--port", "0"], {}).port).toBe(0);
  });

  it("refuses bad values with a message naming the variable or flag and what it accepts", () => {
    expect(configError([], { PORT: "eighty" })).toBe(
      'invalid PORT "eighty": expected a whole number from 0 to 65535',
    );
    expect(configError(["--port", "65536"], {})).toContain("invalid --port");
    expect(configError(["--port=-1"], {})).toContain("invalid --port");
    expect(configError([], { SYNC: "sometimes" })).toBe(
      'invalid SYNC "sometimes": expected one of always, interval, never',
    );
    expect(configError([], { LOG_LEVEL: "loud" })).toContain("expected one of debug, info, warn, error");
    expect(configError([], { MAX_BODY_MB: "0" })).toContain("invalid MAX_BODY_MB");
    expect(configError([], { MAX_BODY_MB: "lots" })).toContain("expected a number of MiB");
    expect(configError(["--max-body-mb", "5000"], {})).toContain("invalid --max-body-mb");
    expect(configError([], { SEGMENT_MB: "1e3" })).toContain("invalid SEGMENT_MB");
    expect(configError([], { COMPACTION_THRESHOLD: "0" })).toContain("invalid COMPACTION_THRESHOLD");
    expect(configError(["--host", " "], {})).toBe('invalid --host " ": expected a non-empty value');
  });

  it("refuses unknown arguments and flags without a value", () => {
    expect(configError(["--prot", "80"])).toContain(
      'unknown argument "--prot" for serve; known flags: --port,',
    );
    expect(configError(["extra"])).toContain('unknown argument "extra"');
    expect(configError(["--port"])).toBe("--port needs a value");
  });
});
