/**
 * Resolves once stdout has taken the data, so nothing is cut off when the process ends. A reader
 * that closed the pipe early (`kvstore get k | head -c 10`) wants no more: that is not an error.
 */
export function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (error) => (error && !isBrokenPipe(error) ? reject(error) : resolve()));
  });
}

/** Makes a closed stdout pipe end the process quietly, as it does other Unix tools. */
export function exitQuietlyOnBrokenPipe(): void {
  process.stdout.on("error", (error) => {
    if (isBrokenPipe(error)) process.exit(0);
    throw error;
  });
}

function isBrokenPipe(error: Error): boolean {
  return (error as NodeJS.ErrnoException).code === "EPIPE";
}

export function printError(message: string): void {
  process.stderr.write(`kvstore: ${message}\n`);
}
