// Builds the native addon: checks the toolchain, then runs cmake-js (CMake -> cargo + C++).
// Run by `npm ci` / `npm install` (the package's install script) and by `npm run build:native`.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

// Each tool: how to ask for its version, and what to install when it is missing.
const toolchain = [
  { name: 'cmake', args: ['--version'], install: 'CMake >= 3.25 (Debian/Ubuntu: apt-get install cmake)' },
  { name: 'cargo', args: ['--version'], install: 'the Rust toolchain (https://rustup.rs)' },
  { name: process.env.CXX || 'c++', args: ['--version'], install: 'a C++17 compiler (Debian/Ubuntu: apt-get install g++)' },
];

const missing = toolchain.filter((tool) => {
  const probe = spawnSync(tool.name, tool.args, { stdio: 'ignore' });
  return probe.error || probe.status !== 0;
});
if (missing.length > 0) {
  const lines = missing.map((tool) => `  - ${tool.name}: install ${tool.install}`);
  console.error(`crossrank: cannot build the native addon, missing tools:\n${lines.join('\n')}`);
  process.exit(1);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'compile', '--directory', root, '--out', join(root, 'build')];
if (process.env.CROSSRANK_DEBUG) args.push('--debug');
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
