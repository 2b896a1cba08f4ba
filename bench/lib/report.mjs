// Turns one benchmark run into bench/results/<name>.json, a Markdown report and an SVG chart.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const SYSTEM_ORDER = ['crossrank', 'crossrank-int8', 'onnxruntime-python', 'transformers.js', 'sentence-transformers', 'st-openvino', 'st-openvino-f32', 'st-openvino-int8', 'ort-openvino-ep'];
// onnxruntime-python-int8 and transformers.js-int8 (the same onnx/model_quantized.onnx as
// crossrank-int8) are not in SYSTEM_ORDER: they have their own section, int8Section.
// The int8 variant crossrank convert makes, as named in bench/results/int8-study.json.
const CONVERT_INT8 = 'tok_sym_auto';
const COLORS = {
  crossrank: '#d9480f',
  'crossrank-int8': '#f59f00',
  'onnxruntime-python': '#1971c2',
  'transformers.js': '#2f9e44',
  'sentence-transformers': '#7048e8',
  'st-openvino': '#0b7285',
  'st-openvino-int8': '#66d9e8',
  'st-openvino-f32': '#3bc9db',
  'ort-openvino-ep': '#495057',
};
// The rows of the sentence-transformers CPU backends section, in order.
const BACKEND_ROWS = ['crossrank', 'crossrank-int8', 'sentence-transformers', 'st-openvino', 'st-openvino-f32', 'st-openvino-int8', 'onnxruntime-python', 'onnxruntime-python-int8', 'ort-openvino-ep', 'ort-openvino-ep-int8'];
const BACKEND_LABEL = {
  crossrank: 'crossrank fp32',
  'crossrank-int8': 'crossrank int8 (convert\'s file)',
  'sentence-transformers': 'sentence-transformers torch fp32',
  'st-openvino': 'sentence-transformers backend="openvino"',
  'st-openvino-f32': 'sentence-transformers backend="openvino", f32 hint',
  'ort-openvino-ep': 'ONNX Runtime OpenVINO EP, crossrank\'s fp32 file',
  'ort-openvino-ep-int8': 'ONNX Runtime OpenVINO EP, crossrank\'s int8 file',
  'st-openvino-int8': 'sentence-transformers OpenVINO static int8 (nncf)',
  'onnxruntime-python': 'ONNX Runtime Python fp32',
  'onnxruntime-python-int8': 'ONNX Runtime Python, crossrank\'s int8 file',
};

/** Speed beside quality for crossrank and sentence-transformers' CPU backends (issue 25). */
function backendsSection(result) {
  const openvino = (r) => r.system.startsWith('st-openvino') || r.system.startsWith('ort-openvino');
  if (!result.runs.some(openvino)) return '';
  const quality = result.quality ?? [];
  const v = result.meta.versions;
  let md = `## sentence-transformers' CPU backends

`;
  md += `Same weights, pairs and thread count; each system in its own process. Quality: each system's rerank scores against sentence-transformers torch fp32 on the same lists (${result.meta.sizes.rerankSets} lists of ${result.meta.sizes.docs}; per-list Spearman and top-10 overlap, min over the lists; max |score| difference after the sigmoid). These models have random weights: their logits crowd together, so the rank figures are harsher than on a trained model (bench/results/int8-study.md has the trained model). `;
  md += `OpenVINO ran at inference precision **${v['openvino inference precision'] ?? 'unknown'}** on this CPU (flags: ${(result.meta.machine.flags ?? []).join(' ') || 'not recorded'}).

`;
  md += `| model | workload | system | docs or pairs/s | x crossrank fp32 | x torch fp32 | Spearman min | top-10 min | max abs diff |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
`;
  const models = [...new Set(result.runs.filter(openvino).map((r) => r.model))];
  for (const model of models) {
    for (const workload of ['rerank', 'throughput']) {
      const get = (s) => result.runs.find((r) => r.model === model && r.workload === workload && r.system === s)?.per_second;
      const own = get('crossrank');
      const torch = get('sentence-transformers');
      for (const s of BACKEND_ROWS) {
        const x = get(s);
        if (x === undefined) continue;
        const q = quality.find((e) => e.model === model && e.system === s);
        const qcols = s === 'sentence-transformers' ? ['reference', 'reference', '0'] : q ? [q.spearman_min.toFixed(4), q.top10_min.toFixed(2), q.max_abs_diff.toExponential(1)] : ['–', '–', '–'];
        md += `| ${model} | ${workload} | ${BACKEND_LABEL[s] ?? s} | ${fmt(x)} | ${own ? `${(x / own).toFixed(2)}x` : '–'} | ${torch ? `${(x / torch).toFixed(2)}x` : '–'} | ${qcols.join(' | ')} |
`;
      }
    }
  }
  return `${md}
`;
}

/** The last non-empty line of a failed peer's message (Python's exception), at most 400 characters. */
export function lastLine(text) {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const line = lines.at(-1) ?? '';
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}

export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** FLOPs of one pair of s tokens: dense layers plus attention (BENCHMARKS.md). */
export function flopsPerPair(config, s) {
  const L = config.num_hidden_layers;
  const H = config.hidden_size;
  const F = config.intermediate_size;
  return 2 * s * L * (4 * H * H + 2 * H * F) + 4 * s * s * H * L;
}

function enrich(result) {
  for (const r of result.runs) {
    r.median_s = median(r.seconds);
    r.per_second = r.items / r.median_s;
    const config = result.configs[r.model];
    if (r.tokens && config) {
      const flops = r.tokens.reduce((sum, s) => sum + flopsPerPair(config, s), 0) / r.tokens.length;
      r.mean_tokens = r.tokens.reduce((a, b) => a + b, 0) / r.tokens.length;
      r.gflops = (flops * r.per_second) / 1e9;
      delete r.tokens;
    }
  }
}

const fmt = (x, digits = 1) => (x === undefined || Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(digits));

function table(result, workload, title, note) {
  const rows = result.runs.filter((r) => r.workload === workload);
  if (rows.length === 0) return '';
  const models = [...new Set(rows.map((r) => r.model))];
  const systems = SYSTEM_ORDER.filter((s) => rows.some((r) => r.system === s));
  const peers = systems.filter((s) => !s.startsWith('crossrank'));
  let md = `### ${title}\n\n${note}\n\n| model | ${systems.join(' | ')} | ${peers.map((p) => `x ${p}`).join(' | ')} |\n`;
  md += `| --- | ${systems.map(() => '---:').join(' | ')} | ${peers.map(() => '---:').join(' | ')} |\n`;
  for (const m of models) {
    const get = (s) => rows.find((r) => r.model === m && r.system === s)?.per_second;
    const own = get('crossrank');
    md += `| ${m} | ${systems.map((s) => fmt(get(s))).join(' | ')} | ${peers.map((p) => (own && get(p) ? `${(own / get(p)).toFixed(2)}x` : '–')).join(' | ')} |\n`;
  }
  return `${md}\n`;
}

function svgChart(result) {
  const groups = [];
  for (const r of result.runs) {
    if (r.kind === 'tokenize') continue;
    const label = r.workload === 'rerank' ? `${r.model} rerank` : r.workload.startsWith('batch-') ? `${r.model} b${r.batch_size}` : null;
    if (!label) continue;
    let g = groups.find((x) => x.label === label);
    if (!g) groups.push((g = { label, bars: {} }));
    g.bars[r.system] = r.per_second;
  }
  const systems = SYSTEM_ORDER.filter((s) => groups.some((g) => g.bars[s] !== undefined));
  const max = Math.max(...groups.flatMap((g) => Object.values(g.bars)), 1);
  const logMax = Math.ceil(Math.log10(max));
  const logMin = Math.max(0, Math.floor(Math.log10(Math.min(...groups.flatMap((g) => Object.values(g.bars)), max))));
  const barW = 12;
  const groupW = systems.length * barW + 18;
  const left = 60;
  const top = 40;
  const h = 300;
  const width = left + groups.length * groupW + 20;
  const y = (v) => top + h - ((Math.log10(Math.max(v, 10 ** logMin)) - logMin) / Math.max(1, logMax - logMin)) * h;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + h + 130}" font-family="sans-serif" font-size="11">\n`;
  svg += `<text x="${left}" y="20" font-size="14">docs/sec (log scale), ${result.meta.machine.nproc} CPU threads, ${result.meta.machine.cpu}; ${result.meta.date.slice(0, 10)}</text>\n`;
  for (let e = logMin; e <= logMax; e++) {
    svg += `<line x1="${left}" x2="${width - 10}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/><text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${10 ** e}</text>\n`;
  }
  groups.forEach((g, i) => {
    const x0 = left + i * groupW + 9;
    systems.forEach((s, j) => {
      const v = g.bars[s];
      if (v === undefined) return;
      svg += `<rect x="${x0 + j * barW}" y="${y(v)}" width="${barW - 2}" height="${top + h - y(v)}" fill="${COLORS[s]}"><title>${s}: ${v.toFixed(1)}</title></rect>\n`;
    });
    svg += `<text transform="translate(${x0 + 4},${top + h + 8}) rotate(60)">${g.label}</text>\n`;
  });
  systems.forEach((s, j) => {
    svg += `<rect x="${left + j * 170}" y="${top + h + 105}" width="10" height="10" fill="${COLORS[s]}"/><text x="${left + j * 170 + 14}" y="${top + h + 114}">${s}</text>\n`;
  });
  return `${svg}</svg>\n`;
}

function targets(result) {
  const lines = [];
  const get = (model, workload, system) => result.runs.find((r) => r.model === model && r.workload === workload && r.system === system);
  const check = (name, ratio, goal) =>
    lines.push(`| ${name} | ${ratio === undefined ? '–' : `${ratio.toFixed(2)}x`} | >= ${goal}x | ${ratio === undefined ? 'not measured' : ratio >= goal ? 'met' : 'MISSED'} |`);
  for (const model of ['minilm-l6', 'tinybert-l2']) {
    for (const workload of ['rerank', 'throughput']) {
      const own = get(model, workload, 'crossrank');
      for (const [peer, goal] of [['transformers.js', 1.5], ['sentence-transformers', 2], ['onnxruntime-python', 1.2]]) {
        const p = get(model, workload, peer);
        check(`${model} ${workload} vs ${peer}`, own && p ? own.per_second / p.per_second : undefined, goal);
      }
    }
  }
  const study = result.int8Study;
  const quality = study?.variants?.[CONVERT_INT8];
  for (const model of ['minilm-l6', 'tinybert-l2']) {
    const int8 = get(model, 'throughput', 'crossrank-int8');
    const st = get(model, 'throughput', 'sentence-transformers');
    const ratio = int8 && st ? int8.per_second / st.per_second : undefined;
    const q = quality ? `; quality ${quality.passes ? 'within' : 'OUTSIDE'} the bounds (int8 section)` : '; quality not measured';
    const status = ratio === undefined ? 'not measured' : ratio >= 2 && quality?.passes ? 'met' : 'MISSED';
    lines.push(`| ${model} throughput: crossrank int8 vs sentence-transformers fp32${q} | ${ratio === undefined ? '–' : `${ratio.toFixed(2)}x`} | >= 2x | ${model === 'minilm-l6' ? status : `(informative) ${status}`} |`);
  }
  const b32 = get('minilm-l6', 'batch-32', 'crossrank');
  const share = b32 && result.gemm ? b32.gflops / result.gemm.gflops : undefined;
  lines.push(`| minilm-l6 batch 32: achieved / GEMM peak | ${share === undefined ? '–' : `${(share * 100).toFixed(0)}%`} | >= 50% | ${share === undefined ? 'not measured' : share >= 0.5 ? 'met' : 'MISSED'} |`);
  const loop = result.runs.filter((r) => r.system === 'crossrank' && r.event_loop_p99_ms !== undefined);
  const worst = loop.length ? Math.max(...loop.map((r) => r.event_loop_p99_ms)) : undefined;
  lines.push(`| event-loop delay p99 during crossrank runs (worst workload) | ${worst === undefined ? '–' : `${worst.toFixed(1)} ms`} | <= 10 ms | ${worst === undefined ? 'not measured' : worst <= 10 ? 'met' : 'MISSED'} |`);
  return `| target | measured | goal | status |\n| --- | ---: | ---: | --- |\n${lines.join('\n')}\n`;
}

function int8Section(result) {
  const get = (model, workload, system) => result.runs.find((r) => r.model === model && r.workload === workload && r.system === system)?.per_second;
  const rows = result.runs.filter((r) => r.system === 'crossrank-int8' && (r.workload === 'rerank' || r.workload === 'throughput'));
  if (rows.length === 0) return '';
  let md = `## int8\n\nEvery system runs the same \`onnx/model_quantized.onnx\`: the file \`crossrank convert\` makes (lib/python/quantize.py: per-channel int8 weights, per-token dynamic int8 activations with SmoothQuant factors calibrated on realistic pairs; bench/models.py makes it from the plain export, as convert does). A pair's score does not depend on its batch companions. fp32 columns for reference; docs or pairs/sec, \`x\` = crossrank int8 / that system.\n\n`;
  md += `| model | workload | crossrank int8 | onnxruntime-python int8 | transformers.js int8 | crossrank fp32 | sentence-transformers fp32 | x sentence-transformers fp32 | x crossrank fp32 | x onnxruntime-python int8 | x transformers.js int8 |\n`;
  md += `| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`;
  for (const r of rows) {
    const own = r.per_second;
    const cols = ['onnxruntime-python-int8', 'transformers.js-int8', 'crossrank', 'sentence-transformers'].map((s) => get(r.model, r.workload, s));
    const x = (v) => (v ? `${(own / v).toFixed(2)}x` : '–');
    md += `| ${r.model} | ${r.workload} | ${fmt(own)} | ${cols.map((v) => fmt(v)).join(' | ')} | ${x(cols[3])} | ${x(cols[2])} | ${x(cols[0])} | ${x(cols[1])} |\n`;
  }
  const study = result.int8Study;
  if (!study) return `${md}\nQuality: bench/results/int8-study.json not found (run bench/int8_study.py).\n\n`;
  const t = study.train;
  md += `\n### What int8 costs in quality (bench/int8_study.py, ${study.date})\n\n`;
  md += `Random-weight models say nothing about quality, so the study fine-tunes the real MiniLM-L6 backbone (the shape of ms-marco-MiniLM-L-6-v2) into a cross-encoder (${t.loss}, ${t.steps} steps, ${t.seconds} s on this CPU) and compares each int8 file with its fp32 file on ${Object.values(study.lists).reduce((a, b) => a + b, 0)} lists of 100 passages. `;
  md += `Bounds per list: Spearman >= ${study.bounds.spearman_min}, top-10 overlap >= ${study.bounds.top10_min}; batch dependence (one pair alone vs inside a batch of 64, max abs logit) <= ${study.bounds.batch_dep_max}. pairs/s here is ONNX Runtime Python, ${study.threads} threads, batch 32: a ratio to fp32 in the same run, not the table above.\n\n`;
  const fp = study.variants.fp32;
  md += `| variant | Spearman min / mean | top-10 min / mean | batch dependence | pairs/s | x fp32 | passes |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |\n`;
  md += `| fp32 | 1 / 1 | 1 / 1 | ${fp.batch_dep.toExponential(1)} | ${fmt(fp.pairs_per_s)} | 1.00 | reference |\n`;
  for (const [name, v] of Object.entries(study.variants)) {
    if (name === 'fp32' || v.error) continue;
    const label = name === CONVERT_INT8 ? `**${name}** (crossrank convert)` : name;
    md += `| ${label} | ${v.spearman_min.toFixed(4)} / ${v.spearman_mean.toFixed(4)} | ${v.top10_min.toFixed(2)} / ${v.top10_mean.toFixed(3)} | ${v.batch_dep.toExponential(1)} | ${fmt(v.pairs_per_s)} | ${v.ratio_fp32.toFixed(2)} | ${v.passes ? 'yes' : 'no'} |\n`;
  }
  return `${md}\nVariants and method: bench/results/int8-study.md.\n\n`;
}

export function writeReport(result, { outDir, markdown }) {
  // The quality half of the int8 rows: the study's results, stored with the run that quotes them.
  const studyPath = join(dirname(markdown), 'results', 'int8-study.json');
  if (!result.meta.smoke && result.int8Study === undefined && existsSync(studyPath)) {
    result.int8Study = JSON.parse(readFileSync(studyPath, 'utf8'));
  }
  enrich(result);
  const stamp = result.meta.date.replace(/[:.]/g, '-').slice(0, 19);
  const base = result.meta.smoke ? 'smoke' : `cpu-${stamp}`;
  const jsonPath = join(outDir, `${base}.json`);
  const svgPath = join(outDir, `${base}.svg`);
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(svgPath, svgChart(result));

  const m = result.meta;
  let md = `# crossrank CPU benchmark\n\n`;
  md += `Run ${m.date} with \`${m.command}\` (${m.seconds.toFixed(0)} s). Machine: ${m.machine.nproc} threads, ${m.machine.cpu}${m.machine.flags ? ` (${m.machine.flags.join(' ')})` : ''}, ${m.machine.platform}, Node ${m.machine.node}; every system used ${m.threads} threads. `;
  md += `Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.\n\n`;
  md += `Models are randomly initialised with the exact shapes of the seed cross-encoders (bench/models.py): speed only, no quality. `;
  md += `Each figure is the median of timed repetitions after a warm-up: rerank = ${m.sizes.rerankSets} repetitions of 1 query x ${m.sizes.docs} passages; `;
  md += `throughput = ${m.sizes.pairs} MS MARCO-like pairs in ${m.sizes.reps} slices; batch sweep = ${m.sizes.sweepPairs} pairs in ${m.sizes.reps} slices; long = ${m.sizes.longPairs} pairs of ${m.sizes.longWords}-word passages (truncated to 512 tokens). `;
  md += `Absolute docs/sec on a shared CPU are noisy; the ratios are the result.\n\n`;
  md += `![docs/sec per model and batch size](results/${base}.svg)\n\n`;
  md += `## Targets (issue: throughput engine)\n\n${targets(result)}\n`;
  md += `## Docs / sec\n\n`;
  md += table(result, 'rerank', `Rerank 1 query x ${m.sizes.docs} passages (BEIR top-100 protocol)`, 'docs/sec; peers at batch 32 (their default), crossrank with its default token-budget batching (2,048 tokens); `x peer` = crossrank / peer.');
  md += table(result, 'throughput', `Throughput, ${m.sizes.pairs} pairs`, 'pairs/sec; peers at batch 32, crossrank with its default batching.');
  for (const b of [1, 8, 32, 128]) md += table(result, `batch-${b}`, `Batch size ${b}`, 'pairs/sec.');
  md += table(result, 'long', 'Long inputs (passages of 400+ words, truncated to 512 tokens), batch 8', 'pairs/sec.');
  md += int8Section(result);
  md += backendsSection(result);
  md += `## Compute\n\n`;
  md += result.gemm
    ? `GEMM peak (fp32 ${result.gemm.size}x${result.gemm.size} MatMul through the same ONNX Runtime library, ${result.gemm.threads} threads, \`build/Release/crossrank-bench gemm\`` +
      // Runs before 2026-11-27 recorded the median of the runs as the peak.
      (result.gemm.median === undefined
        ? `, median of ${result.gemm.runs.length} runs): **${result.gemm.gflops.toFixed(1)} GFLOP/s**.\n\n`
        : `, best of ${result.gemm.runs.length} runs): **${result.gemm.gflops.toFixed(1)} GFLOP/s** (median ${result.gemm.median.toFixed(1)}; runs ${result.gemm.runs.map((g) => g.toFixed(0)).join(', ')}).\n\n`)
    : 'GEMM peak: not measured in this run.\n\n';
  md += `| model | workload | mean tokens/pair | crossrank pairs/s | achieved GFLOP/s | share of GEMM peak |\n| --- | --- | ---: | ---: | ---: | ---: |\n`;
  for (const r of result.runs.filter((x) => x.system === 'crossrank' && x.gflops !== undefined)) {
    md += `| ${r.model} | ${r.workload} | ${fmt(r.mean_tokens)} | ${fmt(r.per_second)} | ${fmt(r.gflops)} | ${result.gemm ? `${((r.gflops / result.gemm.gflops) * 100).toFixed(0)}%` : '–'} |\n`;
  }
  md += `\n## Tokenizer alone\n\n| system | pairs/sec |\n| --- | ---: |\n`;
  for (const r of result.runs.filter((x) => x.kind === 'tokenize')) md += `| ${r.system} | ${fmt(r.per_second)} |\n`;
  md += `\n## Event loop\n\n| workload | model | p99 delay (ms) | max (ms) |\n| --- | --- | ---: | ---: |\n`;
  for (const r of result.runs.filter((x) => x.system === 'crossrank' && x.event_loop_p99_ms !== undefined)) {
    md += `| ${r.workload} | ${r.model} | ${r.event_loop_p99_ms.toFixed(2)} | ${r.event_loop_max_ms.toFixed(2)} |\n`;
  }
  if (result.errors.length) {
    md += `\n## Failed peer runs\n\n${result.errors.map((e) => `- ${e.model} / ${e.system}: ${lastLine(e.error)}`).join('\n')}\n`;
  }
  md += `\nRaw data: [results/${base}.json](results/${base}.json).\n`;
  // The precision study (bench/quality.py) lives beside the speed results.
  const quality = join(dirname(markdown), 'results', 'quality.md');
  if (!result.meta.smoke && existsSync(quality)) md += `\n${readFileSync(quality, 'utf8')}`;
  writeFileSync(markdown, md);
  return [jsonPath, svgPath, markdown];
}

// `node bench/lib/report.mjs bench/results/cpu-<date>.json` rewrites bench/RESULTS.md and the chart
// from a saved run (e.g. after bench/quality.py added its section).
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const { readFileSync: read } = await import('node:fs');
  const { resolve, dirname: dir } = await import('node:path');
  const path = resolve(process.argv[2]);
  const saved = JSON.parse(read(path, 'utf8'));
  const outDir = dir(path);
  console.log(writeReport(saved, { outDir, markdown: join(outDir, '..', 'RESULTS.md') }).join('\n'));
}
