// The kvstore executable: `bun run build` compiles this file into dist/kvstore.
import { exitQuietlyOnBrokenPipe } from "./cli/output.ts";
import { runCli } from "./cli/run.ts";

exitQuietlyOnBrokenPipe();
process.exitCode = await runCli(process.argv.slice(2), process.env);
