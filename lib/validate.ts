// Argument checks shared by the public API. Every failure is INVALID_ARGUMENT with a message
// that names the argument, what was expected and what was received.
import { CrossrankError } from './errors.js';

/** A short, safe description of any value for error messages (never prints huge strings). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of length ${value.length}` : `the string ${JSON.stringify(value)}`;
    case 'number':
      return `the number ${value}`;
    case 'object':
      return `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
    default:
      return `${typeof value} ${String(value)}`;
  }
}

export function invalid(name: string, expected: string, received: unknown): CrossrankError {
  return new CrossrankError('INVALID_ARGUMENT', `${name} must be ${expected}, received ${describe(received)}`);
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(name, 'an object', value);
  return value as Record<string, unknown>;
}

/** Rejects option names the function does not know: a typo must not pass silently. */
export function checkKeys(name: string, options: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new CrossrankError(
        'INVALID_ARGUMENT',
        `${name} has an unknown option ${JSON.stringify(key)}; known options: ${known.join(', ')}`,
      );
    }
  }
}

export function optionalInt(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

export function optionalBool(name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(name, 'a boolean', value);
  return value;
}

export function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw invalid(name, 'a non-empty string', value);
  return value;
}

export function optionalEnum<T extends string>(name: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  }
  return value as T;
}

export function optionalSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalid(name, 'an AbortSignal', value);
  return value;
}

/** Array.isArray narrows to any[]; this keeps unknown[] and names the argument. */
export function checkArray(name: string, value: unknown): readonly unknown[] {
  if (!Array.isArray(value)) throw invalid(name, 'an array', value);
  return value;
}
