import { MiB } from "../engine/options.ts";
import type { SyncMode } from "../index.ts";
import { LOG_LEVELS, type LogLevel } from "./logger.ts";

/** A configuration value that cannot be used; the message names the variable or flag and what it accepts. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface ServerConfig {
  /** TCP port to listen on; 0 asks the OS for a free one. */
  port: number;
  host: string;
  dataDir: string;
  volumeId: string;
  sync: SyncMode;
  /** Largest request body, and so the largest blob, in bytes. */
  maxBodyBytes: number;
  /** Bytes all uploads in flight may hold at once (in memory or staged); undefined: 4 × maxBodyBytes. */
  uploadBudgetBytes: number | undefined;
  /** Seconds a request body may send nothing before it is abandoned with 408; at most 250 (Bun's idleTimeout). */
  bodyIdleSeconds: number;
  /** Size at which the engine starts a new segment; undefined keeps the engine's default. */
  maxSegmentBytes: number | undefined;
  /** Sealed segments that trigger a compaction; undefined keeps the engine's default. */
  compactionThreshold: number | undefined;
  /** Space reserve given up when the disk fills (engine option reserveBytes); undefined: the default. */
  reserveBytes: number | undefined;
  logLevel: LogLevel;
  /** One admin token (AUTH_TOKEN: environment only, so that it never shows in a process list). */
  authToken: string | undefined;
  /** A file of `<role> <token>` lines; read when the server starts. */
  authTokensFile: string | undefined;
  /** Lets the server listen on a non-loopback address with no token configured. */
  allowUnauthenticated: boolean;
  /** Serves /metrics without a token. */
  metricsPublic: boolean;
  /** Host names accepted in the Host header besides the bound address, loopback names and IP literals. */
  allowedHosts: string[];
  /** Origins allowed to call the API from a browser; `*` allows every origin, for GET and HEAD only. */
  corsOrigins: string[];
  /** PEM certificate and key files; both or neither. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}

export const defaultServerConfig: ServerConfig = {
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
};

/** Segments and values are addressed with 32-bit offsets by the engine. */
const MAX_MEGABYTES = 4095;
/** The engine's smallest segment is 1 KiB. */
const MIN_MEGABYTES = 0.001;

function integer(min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      throw new ConfigError(`expected a whole number from ${min} to ${max}`);
    }
    return value;
  };
}

/** Sizes are given in MiB; decimals allow small limits in tests (0.001 MiB is about 1 KiB). */
function megabytes(raw: string): number {
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value < MIN_MEGABYTES || value > MAX_MEGABYTES) {
    throw new ConfigError(`expected a number of MiB from ${MIN_MEGABYTES} to ${MAX_MEGABYTES}`);
  }
  return Math.round(value * MiB);
}

function oneOf<T extends string>(choices: readonly T[]) {
  return (raw: string): T => {
    const choice = choices.find((candidate) => candidate === raw);
    if (choice === undefined) throw new ConfigError(`expected one of ${choices.join(", ")}`);
    return choice;
  };
}

function nonEmpty(raw: string): string {
  if (raw.trim() === "") throw new ConfigError("expected a non-empty value");
  return raw;
}

/** `1`/`true` or `0`/`false`; a switch flag given alone means true. */
function yesOrNo(raw: string): boolean {
  if (raw === "1" || raw === "true") return true;
  if (raw === "0" || raw === "false") return false;
  throw new ConfigError("expected 1, true, 0 or false");
}

function commaList(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

interface Setting {
  env: string;
  /** Absent for a setting that is taken from the environment only. */
  flag: string | undefined;
  /** A switch is given as a flag without a value. */
  isSwitch: boolean;
  apply(config: ServerConfig, raw: string): void;
}

function setting<K extends keyof ServerConfig>(
  key: K,
  env: string,
  flag: string | undefined,
  parse: (raw: string) => ServerConfig[K],
  isSwitch = false,
): Setting {
  return {
    env,
    flag,
    isSwitch,
    apply(config, raw) {
      config[key] = parse(raw);
    },
  };
}

function switchSetting(key: "allowUnauthenticated" | "metricsPublic", env: string, flag: string): Setting {
  return setting(key, env, flag, yesOrNo, true);
}

const settings: Setting[] = [
  setting("port", "PORT", "--port", integer(0, 65_535)),
  setting("host", "HOST", "--host", nonEmpty),
  setting("dataDir", "DATA_DIR", "--data-dir", nonEmpty),
  setting("volumeId", "VOLUME_ID", "--volume-id", nonEmpty),
  setting("sync", "SYNC", "--sync", oneOf(["always", "interval", "never"] as const)),
  setting("maxBodyBytes", "MAX_BODY_MB", "--max-body-mb", megabytes),
  setting("uploadBudgetBytes", "UPLOAD_BUDGET_MB", "--upload-budget-mb", megabytes),
  setting("bodyIdleSeconds", "BODY_IDLE_SECONDS", "--body-idle-seconds", integer(1, 250)),
  setting("maxSegmentBytes", "SEGMENT_MB", "--segment-mb", megabytes),
  setting("compactionThreshold", "COMPACTION_THRESHOLD", "--compaction-threshold", integer(1, 1_000_000)),
  setting("reserveBytes", "RESERVE_MB", "--reserve-mb", (raw) => (raw === "0" ? 0 : megabytes(raw))),
  setting("logLevel", "LOG_LEVEL", "--log-level", oneOf(LOG_LEVELS)),
  setting("authToken", "AUTH_TOKEN", undefined, nonEmpty),
  setting("authTokensFile", "AUTH_TOKENS_FILE", "--auth-tokens", nonEmpty),
  switchSetting("allowUnauthenticated", "ALLOW_UNAUTHENTICATED", "--allow-unauthenticated"),
  switchSetting("metricsPublic", "METRICS_PUBLIC", "--metrics-public"),
  setting("allowedHosts", "ALLOWED_HOSTS", "--allowed-hosts", (raw) =>
    commaList(raw).map((h) => h.toLowerCase()),
  ),
  setting("corsOrigins", "CORS_ORIGINS", "--cors-origins", commaList),
  setting("tlsCert", "TLS_CERT", "--tls-cert", nonEmpty),
  setting("tlsKey", "TLS_KEY", "--tls-key", nonEmpty),
];

function applyNamed(config: ServerConfig, target: Setting, name: string, raw: string): void {
  try {
    target.apply(config, raw);
  } catch (error) {
    const reason = error instanceof ConfigError ? error.message : String(error);
    throw new ConfigError(`invalid ${name} ${JSON.stringify(raw)}: ${reason}`);
  }
}

/**
 * The server's configuration: defaults, overridden by environment variables (empty ones are
 * ignored), overridden by flags (`--port 9000` or `--port=9000`). Throws ConfigError on an
 * unknown flag or a value that cannot be used.
 */
export function loadServerConfig(args: string[], env: Record<string, string | undefined>): ServerConfig {
  const config: ServerConfig = { ...defaultServerConfig };
  for (const target of settings) {
    const raw = env[target.env];
    if (raw !== undefined && raw !== "") applyNamed(config, target, target.env, raw);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const [flag = "", inlineValue] = arg.startsWith("--") && arg.includes("=") ? splitOnce(arg, "=") : [arg];
    const target = settings.find((candidate) => candidate.flag === flag);
    if (target === undefined) {
      const known = settings.flatMap((candidate) => candidate.flag ?? []).join(", ");
      throw new ConfigError(`unknown argument ${JSON.stringify(arg)} for serve; known flags: ${known}`);
    }
    const raw = inlineValue ?? (target.isSwitch ? "true" : args[++i]);
    if (raw === undefined) throw new ConfigError(`${flag} needs a value`);
    applyNamed(config, target, flag, raw);
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError("TLS needs both --tls-cert (TLS_CERT) and --tls-key (TLS_KEY), or neither");
  }
  if (config.uploadBudgetBytes !== undefined && config.uploadBudgetBytes < config.maxBodyBytes) {
    throw new ConfigError(
      "--upload-budget-mb (UPLOAD_BUDGET_MB) must be at least --max-body-mb (MAX_BODY_MB)",
    );
  }
  return config;
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator);
  return [text.slice(0, at), text.slice(at + separator.length)];
}
