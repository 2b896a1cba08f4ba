// How the command line reports errors: in the words of its flags, not the library's option paths.
import { CrossrankError } from './errors.js';

/** `topK` -> `top-k`: the CLI's flags are the library's option names in kebab case. */
const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * The same error with every `options.<name>` in its message replaced by the CLI flag `--<kebab>`,
 * when `flags` (the command's flag names, without dashes) has that flag. The library names its
 * arguments by their JavaScript path (`options.topK must be ...`); a CLI user typed `--top-k`.
 * Paths with no flag (`options.modelFile`) stay as they are, so no message names a flag that does
 * not exist. A CrossrankError keeps its code; anything else is returned unchanged.
 */
export function withFlagNames(error: unknown, flags: readonly string[]): unknown {
  if (!(error instanceof CrossrankError)) return error;
  const message = error.message.replace(/\boptions\.([A-Za-z][A-Za-z0-9]*)\b/g, (path, name: string) =>
    flags.includes(kebab(name)) ? `--${kebab(name)}` : path,
  );
  if (message === error.message) return error;
  return new CrossrankError(error.code, message, { cause: error });
}

/**
 * A flag's integer value, or undefined when the flag is absent. A value that is not a whole number
 * is INVALID_ARGUMENT naming the flag (`--top-k must be an integer, received "ten"`); its range is
 * left to the library, whose message withFlagNames() rewrites.
 */
export function intFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n)) {
    throw new CrossrankError('INVALID_ARGUMENT', `--${flag} must be an integer, received ${JSON.stringify(value)}`);
  }
  return n;
}

/** Whether `error` is one of node:util parseArgs' usage errors (an unknown flag, a missing value). */
export function isUsageError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
