import { runCli } from '../../src/cli/oauth3.js';

/** What one admin command printed, and its exit code. */
export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `npm run oauth3 -- <argv>` in this process with `env` as its whole environment, keeping what it prints. */
export async function runCommand(argv: string[], env: Record<string, string | undefined>): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    argv,
    env,
    (line) => out.push(line),
    (line) => err.push(line),
  );
  return { code, out: out.join('\n'), err: err.join('\n') };
}
