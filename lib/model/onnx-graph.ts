// Reads which operators an ONNX file's graph uses, without loading its weights: ONNX Runtime's
// C API does not list graph nodes, and the only thing crossrank needs from them is whether the
// model quantizes activations dynamically (then a pair's score depends on its batch companions).
//
// A bounded protobuf walk over the file (onnx.proto3: ModelProto.graph = 7, .functions = 25;
// GraphProto.node = 1; FunctionProto.node = 7; NodeProto.op_type = 4, .domain = 7, .attribute = 5;
// AttributeProto.g = 6, .graphs = 11). Every other field is skipped by its length, so initializers
// stored inline (files up to 2 GB) are never read, and files with external data hold only the graph.
import { open, type FileHandle } from 'node:fs/promises';

/** Operators whose output depends on every value of their input tensor, whole batch included. */
const DYNAMIC_QUANTIZATION_OPS = new Set(['DynamicQuantizeLinear', 'DynamicQuantizeMatMul', 'DynamicQuantizeLSTM']);

const MAX_NODES = 10_000_000; // far beyond any real graph: a bound on a hostile file's cost
const MAX_DEPTH = 8; // subgraphs nested in attributes (If/Loop bodies)
const MAX_OP_TYPE_BYTES = 1024;
const WINDOW = 64 * 1024;

/** Whether a model's scores can depend on the other pairs in their batch (ModelInfo.batchDependent). */
export interface BatchDependence {
  batchDependent: boolean;
  /** The operators that make it so, with their counts, or why not / why unknown. */
  reason: string;
}

class MalformedOnnx extends Error {}

/** Bytes of a file read through one cached window: a field header costs no read of its own. */
class FileBytes {
  #start = 0;
  #data: Buffer = Buffer.alloc(0);
  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  async get(pos: number, n: number): Promise<Buffer> {
    if (pos < this.#start || pos + n > this.#start + this.#data.length) {
      const length = Math.min(Math.max(n, WINDOW), this.size - pos);
      const data = Buffer.alloc(length);
      const { bytesRead } = await this.file.read(data, 0, length, pos);
      this.#start = pos;
      this.#data = data.subarray(0, bytesRead);
      if (bytesRead < n) throw new MalformedOnnx('unexpected end of file');
    }
    return this.#data.subarray(pos - this.#start, pos - this.#start + n);
  }
}

interface Walk {
  bytes: FileBytes;
  ops: Map<string, number>;
  nodes: number;
}

/** Calls onField(field, wireType, valueStart, valueEnd) for each field of the message in [start, end). */
async function fields(
  bytes: FileBytes,
  start: number,
  end: number,
  onField: (field: number, wireType: number, from: number, to: number) => Promise<void> | void,
): Promise<void> {
  let pos = start;
  // A key or a length: must fit a safe integer. Values of skipped fields (int64 attributes,
  // negative ones take 10 bytes) are only stepped over.
  const varint = async (asLength = true): Promise<number> => {
    const head = await bytes.get(pos, Math.min(10, end - pos));
    let value = 0;
    for (let i = 0; i < head.length; i++) {
      value += (head[i]! & 0x7f) * 2 ** (7 * i);
      if ((head[i]! & 0x80) === 0) {
        pos += i + 1;
        if (asLength && !Number.isSafeInteger(value)) throw new MalformedOnnx('length out of range');
        return value;
      }
    }
    throw new MalformedOnnx('truncated varint');
  };
  while (pos < end) {
    const key = await varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    let to: number;
    if (wireType === 0) {
      await varint(false);
      continue;
    } else if (wireType === 1) {
      to = pos + 8;
    } else if (wireType === 5) {
      to = pos + 4;
    } else if (wireType === 2) {
      const length = await varint();
      to = pos + length;
    } else {
      throw new MalformedOnnx(`unsupported wire type ${wireType}`);
    }
    if (to > end) throw new MalformedOnnx('field runs past its message');
    await onField(field, wireType, pos, to);
    pos = to;
  }
}

async function walkGraph(walk: Walk, start: number, end: number, nodeField: number, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) throw new MalformedOnnx('subgraphs nested too deep');
  await fields(walk.bytes, start, end, async (field, wireType, from, to) => {
    if (field === nodeField && wireType === 2) await walkNode(walk, from, to, depth);
  });
}

async function walkNode(walk: Walk, start: number, end: number, depth: number): Promise<void> {
  if (++walk.nodes > MAX_NODES) throw new MalformedOnnx(`more than ${MAX_NODES} nodes`);
  let opType = '';
  let domain = '';
  await fields(walk.bytes, start, end, async (field, wireType, from, to) => {
    if (wireType !== 2) return;
    if ((field === 4 || field === 7) && to - from <= MAX_OP_TYPE_BYTES) {
      const text = (await walk.bytes.get(from, to - from)).toString('utf8');
      if (field === 4) opType = text;
      else domain = text;
    } else if (field === 5) {
      // AttributeProto: a subgraph (g) or subgraphs (graphs) of an If / Loop / Scan.
      await fields(walk.bytes, from, to, async (f, w, gFrom, gTo) => {
        if ((f === 6 || f === 11) && w === 2) await walkGraph(walk, gFrom, gTo, 1, depth + 1);
      });
    }
  });
  const name = domain === '' || domain === 'ai.onnx' ? opType : `${domain}.${opType}`;
  walk.ops.set(name, (walk.ops.get(name) ?? 0) + 1);
}

/**
 * Operator counts of the ONNX file at `path` (main graph, local functions and subgraphs), keyed by
 * op_type, prefixed with the domain outside the default one ('com.microsoft.DynamicQuantizeMatMul').
 * Reads only the graph's structure. Throws on a file that is not a well-formed ModelProto.
 */
export async function onnxOpTypes(path: string): Promise<Map<string, number>> {
  const file = await open(path, 'r');
  try {
    const walk: Walk = { bytes: new FileBytes(file, (await file.stat()).size), ops: new Map(), nodes: 0 };
    await fields(walk.bytes, 0, walk.bytes.size, async (field, wireType, from, to) => {
      if (wireType !== 2) return;
      if (field === 7) await walkGraph(walk, from, to, 1, 0); // ModelProto.graph
      else if (field === 25) await walkGraph(walk, from, to, 7, 0); // ModelProto.functions
    });
    return walk.ops;
  } finally {
    await file.close();
  }
}

/**
 * Whether scores from the ONNX file at `path` can depend on their batch companions: true when its
 * graph quantizes activations dynamically (DynamicQuantizeLinear and the fused forms ONNX Runtime
 * and onnxruntime.quantization.quantize_dynamic produce). Such an operator picks one scale and zero
 * point from the minimum and maximum of its whole input tensor: every row of the batch, padding
 * included. Never throws: an unreadable graph gives false with the reason.
 */
export async function batchDependence(path: string): Promise<BatchDependence> {
  let ops: Map<string, number>;
  try {
    ops = await onnxOpTypes(path);
  } catch (error) {
    return { batchDependent: false, reason: `unknown: the graph could not be read (${(error as Error).message})` };
  }
  const found = [...ops].filter(([name]) => DYNAMIC_QUANTIZATION_OPS.has(name.slice(name.lastIndexOf('.') + 1)));
  if (found.length === 0) {
    return { batchDependent: false, reason: 'no dynamic quantization in the graph: each row is computed on its own' };
  }
  const list = found.map(([name, count]) => `${name} x${count}`).join(', ');
  return {
    batchDependent: true,
    reason: `dynamic quantization (${list}): activation scales are computed per batch, over every row including padding`,
  };
}

/**
 * ModelProto.metadata_props (field 14: StringStringEntryProto key = 1, value = 2) of the ONNX file
 * at `path`, read without its weights. crossrank convert writes there what an LLM reranker's score
 * graph computes (crossrank.kind, crossrank.true_token_id, crossrank.false_token_id). Throws on a
 * file that is not a well-formed ModelProto.
 */
export async function onnxMetadata(path: string): Promise<Map<string, string>> {
  const file = await open(path, 'r');
  const out = new Map<string, string>();
  try {
    const bytes = new FileBytes(file, (await file.stat()).size);
    await fields(bytes, 0, bytes.size, async (field, wireType, from, to) => {
      if (field !== 14 || wireType !== 2 || to - from > 1 << 20) return;
      let key = '';
      let value = '';
      await fields(bytes, from, to, async (f, w, a, b) => {
        if (w !== 2) return;
        const text = (await bytes.get(a, b - a)).toString('utf8');
        if (f === 1) key = text;
        else if (f === 2) value = text;
      });
      if (out.size < 1000) out.set(key, value);
    });
    return out;
  } finally {
    await file.close();
  }
}
