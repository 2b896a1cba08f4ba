// Argument checks shared by the public API. Every failure is INVALID_ARGUMENT with a message
// that names the argument, what was expected and what was received.
//
// Hostile values: checking a value never runs the caller's code. describe() reads no property
// through a getter, a Proxy trap, Symbol.toStringTag or toString; revoked Proxies and fake
// AbortSignals are refused with INVALID_ARGUMENT instead of letting a TypeError escape. Reading
// the caller's input itself (an array's elements, an options object's keys) may run the caller's
// getters and traps; an error they throw propagates as is.
import { types } from 'node:util';

import { CrossrankError } from './errors.js';

/** Whether `value` is a Proxy that has been revoked (or wraps one): any operation on it throws. */
function isRevokedProxy(value: unknown): boolean {
  if (!types.isProxy(value)) return false;
  try {
    Array.isArray(value); // looks through live proxies without running a trap; throws on a revoked one
    return false;
  } catch {
    return true;
  }
}

/** Array.isArray that never throws (it does on a revoked Proxy). */
export function isArray(value: unknown): value is unknown[] {
  return !isRevokedProxy(value) && Array.isArray(value);
}

/** The name of an object's constructor, read from own data properties only (no getter, no trap). */
function constructorName(value: object): string | undefined {
  const proto: unknown = Object.getPrototypeOf(value); // not a Proxy (checked by the caller): no trap
  if (proto === null) return 'null prototype';
  if (typeof proto !== 'object' || types.isProxy(proto)) return undefined;
  const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value;
  if (typeof ctor !== 'function' || types.isProxy(ctor)) return undefined;
  const name: unknown = Object.getOwnPropertyDescriptor(ctor, 'name')?.value;
  return typeof name === 'string' && name.length > 0 && name.length <= 40 ? name : undefined;
}

/**
 * A short description of any value for error messages. Never runs the caller's code (see the top
 * of this file) and never prints huge strings.
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of length ${value.length}` : `the string ${JSON.stringify(value)}`;
    case 'number':
      return `the number ${value}`;
    case 'bigint':
      return `the bigint ${value}n`;
    case 'boolean':
      return `the boolean ${value}`;
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    default:
      break;
  }
  const object = value as object;
  if (types.isProxy(object)) return isRevokedProxy(object) ? 'a revoked Proxy' : 'a Proxy';
  if (typeof object === 'function') return 'a function';
  // A real array's length is a data property: reading it runs no code.
  if (Array.isArray(object)) return `an array of length ${object.length}`;
  if (types.isBoxedPrimitive(object)) return `a boxed primitive (${constructorName(object) ?? 'unknown'})`;
  const name = constructorName(object);
  return name === undefined ? 'an object' : `an object (${name})`;
}

export function invalid(name: string, expected: string, received: unknown): CrossrankError {
  return new CrossrankError('INVALID_ARGUMENT', `${name} must be ${expected}, received ${describe(received)}`);
}

export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || isRevokedProxy(value) || Array.isArray(value)) {
    throw invalid(name, 'an object', value);
  }
  return value as Record<string, unknown>;
}

/** Rejects option names the function does not know: a typo must not pass silently. */
export function checkKeys(name: string, options: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new CrossrankError(
        'INVALID_ARGUMENT',
        `${name} has an unknown option ${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}...` : key)}; known options: ${known.join(', ')}`,
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

// AbortSignal's own accessors and EventTarget's methods, taken once: called on a signal, they run
// no code of the caller's (an own `addEventListener` property on the signal is never looked up).
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')?.get as (this: AbortSignal) => boolean;
const addListener = EventTarget.prototype.addEventListener;
const removeListener = EventTarget.prototype.removeEventListener;

/**
 * A real AbortSignal (branded by Node, e.g. from AbortController, AbortSignal.timeout or .any), or
 * INVALID_ARGUMENT. `instanceof` alone lets Object.create(AbortSignal.prototype) through, whose
 * `aborted` then throws ERR_INVALID_THIS.
 */
export function optionalSignal(name: string, value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || types.isProxy(value)) throw invalid(name, 'an AbortSignal', value);
  try {
    abortedGetter.call(value as AbortSignal); // Node's brand check
  } catch {
    throw invalid(name, 'an AbortSignal', value);
  }
  return value as AbortSignal;
}

/** signal.aborted through AbortSignal's own getter (the signal passed optionalSignal). */
export function signalAborted(signal: AbortSignal): boolean {
  return abortedGetter.call(signal);
}

/** Adds a one-shot abort listener with EventTarget's own method; returns its remover. */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  addListener.call(signal, 'abort', listener, { once: true });
  return () => removeListener.call(signal, 'abort', listener);
}

/** Array.isArray narrows to any[]; this keeps unknown[] and names the argument. */
export function checkArray(name: string, value: unknown): readonly unknown[] {
  if (!isArray(value)) throw invalid(name, 'an array', value);
  return value;
}

/** The length of an array-like read once; a Proxy may report anything, which is refused. */
function arrayLength(name: string, list: readonly unknown[]): number {
  const n: unknown = list.length;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 2 ** 32 - 1) {
    throw invalid(`${name}.length`, 'an array length', n);
  }
  return n;
}

/**
 * One snapshot of an array of strings: its length and each element are read exactly once, and
 * crossrank uses the copy from then on. A caller who changes the array while a call runs does not
 * change the call (results describe the array as it was when the call was made).
 */
export function snapshotStrings(name: string, value: unknown): string[] {
  const list = checkArray(name, value);
  const n = arrayLength(name, list);
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const item = list[i];
    if (typeof item !== 'string') throw invalid(`${name}[${i}]`, 'a string', item);
    out[i] = item;
  }
  return out;
}

/**
 * One snapshot of [string, string] pairs, split into the two columns the addon takes. Each pair is
 * read by index (never through an iterator the caller may have replaced).
 */
export function snapshotPairs(name: string, value: unknown): { first: string[]; second: string[] } {
  const list = checkArray(name, value);
  const n = arrayLength(name, list);
  const first = new Array<string>(n);
  const second = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const pair = list[i];
    if (!isArray(pair)) throw invalid(`${name}[${i}]`, 'a [string, string] pair', pair);
    const size: unknown = pair.length;
    if (size !== 2) throw invalid(`${name}[${i}]`, 'a [string, string] pair', pair);
    const a = pair[0];
    const b = pair[1];
    if (typeof a !== 'string') throw invalid(`${name}[${i}][0]`, 'a string', a);
    if (typeof b !== 'string') throw invalid(`${name}[${i}][1]`, 'a string', b);
    first[i] = a;
    second[i] = b;
  }
  return { first, second };
}
