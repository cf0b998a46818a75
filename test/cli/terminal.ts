// Drives a program through a pseudo-terminal, using util-linux `script` to allocate it, so the
// REPL's terminal mode (prompt, line editing, completion, history) runs as it does for a person.

export const scriptAvailable = Bun.which("script") !== null;

export interface Terminal {
  /** Sends keys as one burst; readline takes a burst as pasted text, so send Tab on its own. */
  type(keys: string): void;
  /** Waits until `text` appears in the output after everything already waited for. */
  waitFor(text: string): Promise<void>;
  exited(): Promise<number>;
}

export function openTerminal(command: string[], env: Record<string, string>): Terminal {
  const commandLine = command.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(" ");
  const child = Bun.spawn(
    ["script", "--quiet", "--return", "--flush", "--command", commandLine, "/dev/null"],
    {
      env: { ...env, TERM: "xterm" },
      stdin: "pipe",
      stdout: "pipe",
    },
  );
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let output = "";
  let readPosition = 0;
  return {
    type(keys) {
      child.stdin.write(keys);
      child.stdin.flush();
    },
    async waitFor(text) {
      while (!output.includes(text, readPosition)) {
        const { value, done } = await reader.read();
        if (done)
          throw new Error(
            `terminal closed before ${JSON.stringify(text)}; output: ${JSON.stringify(output)}`,
          );
        output += decoder.decode(value, { stream: true });
      }
      readPosition = output.indexOf(text, readPosition) + text.length;
    },
    exited: () => child.exited,
  };
}
