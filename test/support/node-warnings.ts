// Process warnings a child printed on stderr ("(node:PID) XWarning: …"), for test/support/cli-process.ts.
export function warningsIn(output: string): string[] {
  return [...output.matchAll(/^\(node:\d+\) (\w*Warning): (.*)$/gm)].map((m) => `${m[1]}: ${m[2]}`);
}
