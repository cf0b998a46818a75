/** A mistake in how kvstore was invoked: the CLI prints it with the command's usage and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
  constructor(
    message: string,
    /** The command whose usage to print; the general usage when absent. */
    readonly command?: string,
  ) {
    super(message);
  }
}
