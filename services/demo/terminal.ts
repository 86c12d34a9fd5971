// The demo's terminal: whole lines, and one status line that a TTY redraws in place (\r) while a pipe
// or a file gets it as plain lines, at most one per `plainIntervalMs` (plus the final one).
export interface Terminal {
  readonly tty: boolean;
  /** Prints a line (ending the status line first, if one is showing). */
  line(text: string): void;
  /** Shows a status that the next status replaces; `final` keeps it and moves on. */
  status(text: string, final?: boolean): void;
}

export interface TerminalStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function createTerminal(stream: TerminalStream, options: { plainIntervalMs?: number } = {}): Terminal {
  const tty = stream.isTTY === true;
  const plainIntervalMs = options.plainIntervalMs ?? 2000;
  let statusShowing = false;
  let lastPlain = 0;
  const fit = (text: string) => {
    const width = stream.columns ?? 0;
    return width > 1 && text.length >= width ? text.slice(0, width - 2) + '…' : text;
  };
  return {
    tty,
    line(text) {
      if (statusShowing) stream.write('\n');
      statusShowing = false;
      stream.write(text + '\n');
    },
    status(text, final = false) {
      if (tty) {
        stream.write(`\r\x1b[K${fit(text)}${final ? '\n' : ''}`);
        statusShowing = !final;
        return;
      }
      const now = Date.now();
      if (!final && now - lastPlain < plainIntervalMs) return;
      lastPlain = now;
      stream.write(text + '\n');
    },
  };
}
