/** Exit statuses every command shares, so scripts can tell "absent" from "misused". */
export const ExitCode = {
  success: 0,
  /** The key was not found, the data is corrupt, or the operation failed. */
  failure: 1,
  /** The command line was wrong; the usage was printed. */
  usage: 2,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
