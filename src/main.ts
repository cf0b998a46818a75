// The kvstore executable: `bun run build` compiles this file into dist/kvstore.
import { runCli } from "./cli/run.ts";

process.exitCode = await runCli(process.argv.slice(2), process.env);
