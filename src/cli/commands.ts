/** What each command takes and how it is described; `help` renders these and `run` checks against them. */
export type CommandName =
  | "serve"
  | "repl"
  | "get"
  | "set"
  | "delete"
  | "list"
  | "stats"
  | "compact"
  | "check"
  | "backup"
  | "help"
  | "version";

export interface CommandSpec {
  readonly name: CommandName;
  readonly usage: string;
  readonly summary: string;
  readonly details: string;
  readonly minArgs: number;
  readonly maxArgs: number;
  /** Command-specific flags besides the global ones. */
  readonly flags: readonly string[];
}

function command(spec: Omit<CommandSpec, "flags"> & { flags?: readonly string[] }): CommandSpec {
  return { flags: [], ...spec };
}

export const commands: readonly CommandSpec[] = [
  command({
    name: "serve",
    usage: "serve [FLAGS]",
    summary: "run the HTTP blob server",
    details: `Serves /blobs, /health, /metrics and the Swagger UI at /swagger until SIGTERM or SIGINT,
then finishes the requests in flight, saves the index snapshot and exits 0.

Flags, each with an environment variable (a flag wins over its variable):
  --port N                        PORT (8000; 0 picks a free port)
  --host HOST                     HOST (127.0.0.1; any other address needs a token)
  --data-dir DIR                  DATA_DIR (./data)
  --volume-id ID                  VOLUME_ID (vol-1)
  --sync always|interval|never    SYNC (always: every write is fsynced before its reply)
  --max-body-mb N                 MAX_BODY_MB (100), the largest blob
  --segment-mb N                  SEGMENT_MB (64), the size at which a new segment starts
  --compaction-threshold N        COMPACTION_THRESHOLD, sealed segments that start a compaction
  --reserve-mb N                  RESERVE_MB (8), space given up for deletes and compaction when the disk fills
  --log-level LEVEL               LOG_LEVEL: debug, info (default), warn or error
  (no flag)                       AUTH_TOKEN, one admin token for Authorization: Bearer
  --auth-tokens FILE              AUTH_TOKENS_FILE, lines of "<role> <token>" (read, write, admin)
  --allow-unauthenticated         ALLOW_UNAUTHENTICATED=1, listen beyond loopback with no token
  --metrics-public                METRICS_PUBLIC=1, serve /metrics without a token
  --allowed-hosts A,B             ALLOWED_HOSTS, host names accepted in the Host header
  --cors-origins A,B|*            CORS_ORIGINS, origins allowed to call from a browser (* reads only)
  --tls-cert FILE --tls-key FILE  TLS_CERT and TLS_KEY, PEM files: serve HTTPS`,
    minArgs: 0,
    maxArgs: Number.POSITIVE_INFINITY,
  }),
  command({
    name: "repl",
    usage: "repl",
    summary: "interactive shell (set, get, delete, list, stats, compact, backup)",
    details: `Opens the data directory and reads commands, one a line; type help inside for the list.
In a terminal it offers line editing, history (kept in DIR/.repl_history) and tab completion.
With piped input it prints only the replies, so a transcript can be compared with diff.`,
    minArgs: 0,
    maxArgs: 0,
  }),
  command({
    name: "get",
    usage: "get KEY",
    summary: "write the value of KEY to stdout as raw bytes",
    details: "Exits 1, printing nothing on stdout, if KEY is absent.",
    minArgs: 1,
    maxArgs: 1,
  }),
  command({
    name: "set",
    usage: "set KEY [VALUE]",
    summary: "store VALUE, or all of stdin, under KEY",
    details: `Without VALUE the value is read from standard input, byte for byte:
  kvstore set photo < photo.jpg
Prints OK once the value is durable. Put -- before a VALUE that starts with a dash.`,
    minArgs: 1,
    maxArgs: 2,
  }),
  command({
    name: "delete",
    usage: "delete KEY",
    summary: "remove KEY",
    details: "Prints Deleted, or exits 1 if KEY is absent.",
    minArgs: 1,
    maxArgs: 1,
  }),
  command({
    name: "list",
    usage: "list [PREFIX]",
    summary: "print the keys in order, one a line",
    details: "With PREFIX, only the keys that start with it.",
    minArgs: 0,
    maxArgs: 1,
  }),
  command({
    name: "stats",
    usage: "stats [--json]",
    summary: "show key, segment and size counts",
    details: "With --json, prints every figure the engine reports as one JSON object.",
    minArgs: 0,
    maxArgs: 0,
    flags: ["--json"],
  }),
  command({
    name: "compact",
    usage: "compact",
    summary: "reclaim the space of overwritten and deleted values",
    details: "Rewrites the live records of sealed segments into new segments and removes the old ones.",
    minArgs: 0,
    maxArgs: 0,
  }),
  command({
    name: "check",
    usage: "check [--json]",
    summary: "verify every record's checksum",
    details: `Reads every segment and the index snapshot without changing them and reports what is wrong.
Exits 1 if anything is corrupt. With --json, prints the report as one JSON object.`,
    minArgs: 0,
    maxArgs: 0,
    flags: ["--json"],
  }),
  command({
    name: "backup",
    usage: "backup DEST",
    summary: "copy the store to DEST, a new or empty directory",
    details: `Writes a copy of the data that opens as a store (kvstore --data-dir DEST ...) and passes
check. DEST must not exist or be an empty directory, and its parent must exist. Sealed segments
are hard-linked when DEST is on the same file system, copied otherwise; if the backup fails,
nothing is left at DEST. Like the other commands it takes the data directory's lock: to back up
a running server, use POST /admin/backup.`,
    minArgs: 1,
    maxArgs: 1,
  }),
  command({
    name: "help",
    usage: "help [COMMAND]",
    summary: "show this help, or a command's",
    details: "",
    minArgs: 0,
    maxArgs: 1,
  }),
  command({
    name: "version",
    usage: "version",
    summary: "print the version",
    details: "",
    minArgs: 0,
    maxArgs: 0,
  }),
];

export function findCommand(name: string): CommandSpec | undefined {
  return commands.find((spec) => spec.name === name);
}
