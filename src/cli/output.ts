/** Resolves once stdout has taken the data, so nothing is cut off when the process ends. */
export function writeStdout(data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

export function printError(message: string): void {
  process.stderr.write(`kvstore: ${message}\n`);
}
