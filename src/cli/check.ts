import { existsSync } from "node:fs";
import { type VerifyReport, verify } from "../index.ts";
import { ExitCode } from "./exit-code.ts";
import { MissingDataDirError } from "./open-store.ts";
import { writeStdout } from "./output.ts";

function describeSnapshot({ status, detail }: VerifyReport["snapshot"]): string {
  const meaning = {
    absent: "absent (open replays every segment)",
    ok: "ok",
    stale: "stale, older than the segments (open ignores it and replays; not an error)",
    ahead:
      "AHEAD of the segments, which lost acknowledged writes (open logs an error and replays what is left)",
    corrupt: "CORRUPT (open ignores it and replays)",
    disagrees: "DISAGREES with the segments",
  }[status];
  return detail === null ? meaning : `${meaning}: ${detail}`;
}

function verdict(report: VerifyReport): string {
  if (report.ok) return "OK";
  const problems: string[] = [];
  const damaged = report.damaged.length;
  if (damaged > 0) problems.push(`${damaged} damaged ${damaged === 1 ? "region" : "regions"}`);
  if (report.snapshot.status === "corrupt") problems.push("a corrupt index.snapshot");
  if (report.snapshot.status === "disagrees")
    problems.push("an index.snapshot that disagrees with the segments");
  return `CORRUPT: ${problems.join(", ")}`;
}

/** The report in words, in the manner of fsck: what was read, what is wrong, then the verdict. */
function formatReport(report: VerifyReport): string {
  const lines = [`Checked ${report.dir}`];
  for (const segment of report.segments) {
    lines.push(`  ${segment.file}: ${segment.records} records, ${segment.bytes} bytes`);
  }
  lines.push(`  index.snapshot: ${describeSnapshot(report.snapshot)}`);
  for (const region of report.damaged) {
    const what = region.lost
      ? "acknowledged writes lost"
      : region.tail
        ? "torn tail, which the next open cuts off"
        : "skipped by every open";
    lines.push(
      `  DAMAGED ${region.file} at offset ${region.offset}, ${region.length} bytes: ${region.reason} (${what})`,
    );
  }
  for (const { file, offset, length } of report.rejectedTails) {
    lines.push(
      `  rejected ${file} from offset ${offset}, ${length} bytes: writes refused after a disk failure ` +
        "(the next open cuts them off; not counted below)",
    );
  }
  for (const file of report.leftovers)
    lines.push(`  leftover ${file} from an interrupted write (the next open deletes it)`);
  lines.push(
    `${report.records} records, ${report.liveKeys} live keys; ${report.totalBytes} bytes on disk, ` +
      `${report.liveBytes} live, ${report.deadBytes} reclaimable`,
  );
  lines.push(verdict(report));
  return `${lines.join("\n")}\n`;
}

/** Verifies the data directory without opening the store, so it also works beside a running server. */
export async function checkCommand(dataDir: string, json: boolean): Promise<ExitCode> {
  if (!existsSync(dataDir)) throw new MissingDataDirError(dataDir);
  const report = verify(dataDir);
  await writeStdout(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.ok ? ExitCode.success : ExitCode.failure;
}
