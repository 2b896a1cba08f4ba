// Which ONNX file of a model to load, from the list of files it has (a hub repo's listing or a
// local folder's), by device, precision and this CPU's instruction sets.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

import { CrossrankError } from '../errors.js';

/** The precision a file is chosen for (LoadOptions.precision): fp32, fp16, int8 or q4 (4-bit weights). */
export type FilePrecision = 'fp32' | 'fp16' | 'int8' | 'q4';
/** The device a file is chosen for (LoadOptions.device): fp16 prefers optimum's O4 graph on 'cuda'. */
export type FileDevice = 'cpu' | 'cuda' | 'auto';

/** Instruction sets that decide which int8 file suits this CPU. */
export interface CpuFeatures {
  /** process.arch is arm64: model_qint8_arm64.onnx. */
  arm64: boolean;
  /** AVX-512 VNNI (the avx512_vnni flag): model_qint8_avx512_vnni.onnx. */
  avx512vnni: boolean;
  /** AVX-VNNI (the avx_vnni flag: VNNI in 256-bit VEX form; ONNX Runtime's integer MatMuls use it). Read by precision 'auto' (lib/hub/precision.ts); absent counts as false. */
  avxvnni?: boolean;
  /** AVX-512 F and BW: model_qint8_avx512.onnx. */
  avx512: boolean;
  /** AVX2: model_quint8_avx2.onnx. */
  avx2: boolean;
}

let cpuCache: CpuFeatures | undefined;

/**
 * This CPU's instruction sets: arm64 from process.arch, AVX2 / AVX-512 (F and BW, what
 * ONNX Runtime's avx512 int8 kernels use) / AVX-512 VNNI / AVX-VNNI from the flags line of /proc/cpuinfo.
 * No /proc/cpuinfo (not Linux): no x86 extension is assumed, so int8 falls back to the generic file.
 */
export function cpuFeatures(): CpuFeatures {
  if (cpuCache) return cpuCache;
  let flags = new Set<string>();
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => /^flags\s*:/.test(l));
    if (line) flags = new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/));
  } catch {
    // not Linux: keep no flags
  }
  const avx512 = flags.has('avx512f') && flags.has('avx512bw');
  cpuCache = {
    arm64: process.arch === 'arm64',
    avx512vnni: avx512 && flags.has('avx512_vnni'),
    avxvnni: flags.has('avx_vnni'),
    avx512,
    avx2: flags.has('avx2'),
  };
  return cpuCache;
}

// Each name is looked for at the root and under onnx/ (where both the cross-encoder org and
// transformers.js repos keep them; crossrank convert writes model.onnx at the root).
const withFolders = (names: string[]): string[] => names.flatMap((n) => [n, `onnx/${n}`]);

/**
 * The file choice table, in order of preference. Names come from the two schemes the hub uses:
 * optimum's exports in the cross-encoder org (model.onnx, model_O1..O4.onnx, model_qint8_avx512_vnni.onnx,
 * model_qint8_avx512.onnx, model_quint8_avx2.onnx, model_qint8_arm64.onnx) and transformers.js
 * repos (model.onnx, model_fp16.onnx, model_quantized.onnx, model_int8.onnx, model_uint8.onnx, and for
 * decoders (onnx-community's LLM rerankers) the 4-bit model_q4.onnx, model_q4f16.onnx, model_bnb4.onnx).
 * transformers.js calls model_quantized.onnx its 'q8': 8-bit, an int8 file. The 4-bit files are their
 * own precision, 'q4': 4-bit weights are not int8, and their scores stray further from fp32.
 *
 * | precision | device     | files, best first |
 * | --------- | ---------- | ----------------- |
 * | fp32      | any        | model.onnx, model_O1.onnx, model_O2.onnx (O1/O2 are the same fp32 graph with ONNX Runtime's basic/extended fusions applied ahead; O3 adds a GELU approximation, so it is not equal and never chosen for fp32). A local folder `crossrank convert` vouched for loads its fused file first (lib/hub/precision.ts fusedFp32File) |
 * | fp16      | cuda       | model_O4.onnx (O3 + fp16, meant for GPUs), model_fp16.onnx |
 * | fp16      | cpu, auto  | model_fp16.onnx, then model_O4.onnx on 'auto' only |
 * | int8      | arm64      | model_qint8_arm64.onnx, then the generic names |
 * | int8      | x86        | model_qint8_avx512_vnni.onnx (VNNI), model_qint8_avx512.onnx (AVX-512), model_quint8_avx2.onnx (AVX2): those this CPU runs, best first; then model_quantized.onnx, model_int8.onnx, model_uint8.onnx |
 * | q4        | cuda       | model_q4f16.onnx (4-bit weights, fp16 compute), model_q4.onnx, model_bnb4.onnx |
 * | q4        | cpu, auto  | model_q4.onnx (4-bit weights, MatMulNBits, fp32 compute), model_bnb4.onnx (bitsandbytes 4-bit), then model_q4f16.onnx on 'auto' only |
 */
export function modelFileCandidates(precision: FilePrecision, device: FileDevice = 'cpu', cpu: CpuFeatures = cpuFeatures()): string[] {
  switch (precision) {
    case 'fp32':
      return withFolders(['model.onnx', 'model_O1.onnx', 'model_O2.onnx']);
    case 'fp16':
      if (device === 'cuda') return withFolders(['model_O4.onnx', 'model_fp16.onnx']);
      return withFolders(device === 'auto' ? ['model_fp16.onnx', 'model_O4.onnx'] : ['model_fp16.onnx']);
    case 'int8': {
      const names: string[] = [];
      if (cpu.arm64) names.push('model_qint8_arm64.onnx');
      if (cpu.avx512vnni) names.push('model_qint8_avx512_vnni.onnx');
      if (cpu.avx512) names.push('model_qint8_avx512.onnx');
      if (cpu.avx2) names.push('model_quint8_avx2.onnx');
      names.push('model_quantized.onnx', 'model_int8.onnx', 'model_uint8.onnx');
      return withFolders(names);
    }
    case 'q4':
      if (device === 'cuda') return withFolders(['model_q4f16.onnx', 'model_q4.onnx', 'model_bnb4.onnx']);
      return withFolders(device === 'auto' ? ['model_q4.onnx', 'model_bnb4.onnx', 'model_q4f16.onnx'] : ['model_q4.onnx', 'model_bnb4.onnx']);
  }
}

/** Files that hold an ONNX file's external data by the usual names: `<file>_data` (optimum, transformers.js) or `<file>.data` (torch.onnx), sharded suffixes included. */
export function externalDataFiles(modelFile: string, files: readonly string[]): string[] {
  const dir = posix.dirname(modelFile);
  return files.filter((f) => {
    if (posix.dirname(f) !== dir || f === modelFile) return false;
    return f.startsWith(`${modelFile}_data`) || f.startsWith(`${modelFile}.data`);
  });
}

/**
 * Picks the ONNX file from `files` (paths relative to the model's root, with '/'), following
 * {@link modelFileCandidates}. Throws MODEL_NOT_FOUND naming what it looked for: when the model has
 * no ONNX file at all the message says to make one with `crossrank convert`; when it has others it
 * lists them and says how to pick one (precision or modelFile).
 */
export function chooseModelFile(
  files: readonly string[],
  where: string,
  precision: FilePrecision = 'fp32',
  device: FileDevice = 'cpu',
  cpu: CpuFeatures = cpuFeatures(),
): string {
  const present = new Set(files);
  const candidates = modelFileCandidates(precision, device, cpu);
  const found = candidates.find((c) => present.has(c));
  if (found !== undefined) return found;
  // Pairs "x and onnx/x": each name is looked for at the root and under onnx/.
  const looked: string[] = [];
  for (let i = 0; i < candidates.length; i += 2) looked.push(`${candidates[i]} and ${candidates[i + 1]}`);
  const onnx = files.filter((f) => f.endsWith('.onnx'));
  if (onnx.length === 0) {
    throw new CrossrankError(
      'MODEL_NOT_FOUND',
      `no ONNX model in ${where}: looked for ${looked.join(', ')}. ` +
        'Make one with `crossrank convert --model <repo or folder> --out DIR` (or optimum) and load that folder, or name a file with the modelFile option.',
    );
  }
  throw new CrossrankError(
    'MODEL_NOT_FOUND',
    `no ${precision} ONNX model in ${where} for device ${device}: looked for ${looked.join(', ')}; ` +
      `it holds ${onnx.slice(0, 16).join(', ')}. Pick one with the precision or modelFile option.`,
  );
}
