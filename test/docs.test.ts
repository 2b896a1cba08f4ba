// The front page stays a front page: README.md within 10 KB (issue 26), and the contributor
// commands it gives are the ones CI runs. Links and docstrings: `npm run docs:check`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FIXTURES } from './helpers.js';

const ROOT = join(FIXTURES, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

describe('README.md', () => {
  it('is at most 10 KB', () => {
    expect(Buffer.byteLength(read('README.md'))).toBeLessThanOrEqual(10 * 1024);
  });

  it('gives the contributor commands CI runs: npm ci and npm run setup:python, then npm test', () => {
    const readme = read('README.md');
    const ci = read('.ci/run');
    for (const command of ['npm ci', 'npm run setup:python', 'npm test']) {
      expect(readme).toContain(`${command} `);
      expect(ci).toContain(command);
    }
    expect(readme.indexOf('\nnpm ci ')).toBeLessThan(readme.indexOf('npm run setup:python '));
    expect(readme.indexOf('npm run setup:python ')).toBeLessThan(readme.indexOf('\nnpm test '));
    // pip's cache would hold a second copy of every wheel (torch and its CUDA libraries): CI ran out of disk
    expect(JSON.parse(read('package.json')).scripts['setup:python']).toContain('--no-cache-dir');
  });

  it('links every docs page, and every docs page exists in the index', () => {
    const readme = read('README.md');
    const index = read('docs/README.md');
    for (const page of ['usage', 'models', 'convert', 'serve', 'evaluation', 'gpu', 'platforms', 'benchmarks', 'reliability', 'architecture']) {
      expect(readme).toContain(`(docs/${page}.md)`);
      expect(index).toContain(`(${page}.md)`);
    }
  });
});
