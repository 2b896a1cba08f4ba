// The one way crossrank's TypeScript reads a file of a model folder: regular files only, up to a
// size bound, off the JS thread. The addon applies the same rule to tokenizer.json and the ONNX
// file before it opens them (native/core/model_file.cpp).
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

import { CrossrankError } from '../errors.js';

/**
 * Bound for the small JSON files of a model folder (config.json, tokenizer_config.json,
 * config_sentence_transformers.json). The largest real ones are a few hundred KB (config.json of a
 * classifier with thousands of id2label entries); 16 MiB is far beyond that and still harmless.
 */
export const MAX_JSON_BYTES = 16 * 2 ** 20;

/**
 * Reads a model file as UTF-8 text. Returns undefined when it does not exist. INVALID_MODEL when it
 * is not a regular file (a FIFO would block, a device such as /dev/zero never ends) or holds more
 * than `maxBytes`. The file is opened non-blocking, so that even opening a FIFO returns at once and
 * no libuv pool thread waits for a writer.
 */
export async function readModelFile(path: string, what: string, maxBytes: number): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new CrossrankError('INVALID_MODEL', `cannot read ${what} (${path}): ${(error as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new CrossrankError('INVALID_MODEL', `${what} (${path}) is not a regular file`);
    if (stat.size > maxBytes) {
      throw new CrossrankError('INVALID_MODEL', `${what} (${path}) holds ${stat.size} bytes, more than the ${maxBytes} crossrank reads`);
    }
    // The size can change while we read (or be wrong, as in /proc): read in chunks until the end,
    // and stop at maxBytes + 1.
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(maxBytes + 1 - length, Math.max(stat.size + 1 - length, 64 * 1024)));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) {
        throw new CrossrankError('INVALID_MODEL', `${what} (${path}) holds more than the ${maxBytes} bytes crossrank reads`);
      }
    }
    return Buffer.concat(chunks, length).toString('utf8');
  } catch (error) {
    if (error instanceof CrossrankError) throw error;
    throw new CrossrankError('INVALID_MODEL', `cannot read ${what} (${path}): ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}
