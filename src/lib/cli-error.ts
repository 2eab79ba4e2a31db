/**
 * The one error type a `mumuka` subcommand throws to end with a clear line
 * and an exit code (cli.ts prints `mumuka: <message>` and exits with it).
 * It lives here, not in cli.ts, so the command modules cli.ts imports do not
 * import cli.ts back (a cycle that breaks as soon as one of them is loaded
 * first). No untrusted input, no state.
 */

/** A failure to report as one line on stderr with this exit code. */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}
