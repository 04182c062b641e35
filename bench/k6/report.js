#!/usr/bin/env node
// Turns a folder of benchmark result files (k6's handleSummary or the Node runner, same shape; see
// bench/k6/README.md) into MCP-V8's Markdown table plus server-side exec time, a mermaid P95 bar chart
// and an SVG of the same chart.
//
//   node bench/k6/report.js bench/out [--md bench/out/report.md] [--svg bench/out/p95.svg] [--title T]
//
// Writes both files (defaults: <dir>/report.md and <dir>/p95.svg) and prints the Markdown.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

export const SCHEMA = 'raftbox-bench/1';

const TOPOLOGY_ORDER = ['single', 'cluster'];
const MODE_ORDER = ['stateless', 'stateful'];

/** Every result file in `dir` (files of another schema are skipped, so raw k6 output can sit beside them). */
export function loadResults(dir) {
  const results = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const parsed = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    if (parsed && parsed.schema === SCHEMA) results.push(parsed);
  }
  return results.sort(compareRuns);
}

function rank(order, value) {
  const i = order.indexOf(value);
  return i < 0 ? order.length : i;
}

function compareRuns(a, b) {
  return (
    rank(TOPOLOGY_ORDER, a.topology) - rank(TOPOLOGY_ORDER, b.topology) ||
    a.topology.localeCompare(b.topology) ||
    rank(MODE_ORDER, a.mode) - rank(MODE_ORDER, b.mode) ||
    a.flow.localeCompare(b.flow) ||
    a.target_rate - b.target_rate
  );
}

/** The series a run belongs to: MCP-V8's `single-stateless` labels, plus the flow when runs differ in it. */
function seriesLabel(run, withFlow) {
  return withFlow ? `${run.topology}-${run.mode} (${run.flow})` : `${run.topology}-${run.mode}`;
}

function mixedFlows(results) {
  return new Set(results.map((r) => r.flow)).size > 1;
}

function fixed(value, digits) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

function p95(run) {
  return run.latency_ms ? run.latency_ms.p95 : null;
}

export function renderTable(results) {
  const header =
    '| Topology | Flow | Target Rate | Actual Iter/s | HTTP Req/s | Exec Avg (ms) | Exec p95 (ms) | Exec p99 (ms) ' +
    '| Server Exec Avg (ms) | Server Exec p95 (ms) | Success % | Dropped | Max VUs |';
  const rows = results.map((r) => {
    const latency = r.latency_ms || {};
    const server = r.server_exec_ms || {};
    const cells = [
      `${r.topology}-${r.mode}`,
      r.flow,
      `${r.target_rate}/s`,
      fixed(r.iter_per_s, 1),
      fixed(r.http_req_per_s, 1),
      fixed(latency.avg, 2),
      fixed(latency.p95, 2),
      fixed(latency.p99, 2),
      fixed(server.avg, 2),
      fixed(server.p95, 2),
      `${fixed(r.success_rate * 100, 2)}%`,
      String(r.dropped),
      String(r.max_vus),
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [header, `|${header.split('|').slice(1, -1).map(() => '---').join('|')}|`, ...rows].join('\n');
}

/** A round upper bound for the value axis: 1, 2 or 5 times a power of ten. */
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

export function renderMermaid(results) {
  const withFlow = mixedFlows(results);
  const charted = results.filter((r) => p95(r) !== null);
  const labels = charted.map((r) => JSON.stringify(`${seriesLabel(r, withFlow)} @${r.target_rate}`));
  const values = charted.map((r) => Number(p95(r).toFixed(2)));
  return [
    '```mermaid',
    'xychart-beta',
    '    title "Exec p95 latency by topology and target rate (ms, lower is better)"',
    `    x-axis [${labels.join(', ')}]`,
    `    y-axis "p95 (ms)" 0 --> ${niceCeiling(Math.max(0, ...values))}`,
    `    bar [${values.join(', ')}]`,
    '```',
  ].join('\n');
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'];

function xml(text) {
  return String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
}

/** Grouped bars: one group per target rate, one bar per series (topology-mode). */
export function renderSvg(results, title = 'Exec p95 latency (ms)') {
  const withFlow = mixedFlows(results);
  const charted = results.filter((r) => p95(r) !== null);
  const rates = [...new Set(charted.map((r) => r.target_rate))].sort((a, b) => a - b);
  const series = [...new Set(charted.map((r) => seriesLabel(r, withFlow)))];
  const bar = 22;
  const groupGap = 28;
  const left = 64;
  const top = 40;
  const plotHeight = 260;
  const groupWidth = Math.max(1, series.length) * bar + groupGap;
  const plotWidth = Math.max(1, rates.length) * groupWidth;
  const legendWidth = 230;
  const width = left + plotWidth + 20 + legendWidth;
  const height = top + plotHeight + 56;
  const yMax = niceCeiling(Math.max(0, ...charted.map(p95)));
  const y = (v) => top + plotHeight - (v / yMax) * plotHeight;

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">${xml(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    parts.push(
      `<line x1="${left}" y1="${y(v)}" x2="${left + plotWidth}" y2="${y(v)}" stroke="#e0e0e0"/>`,
      `<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${xml(Number(v.toPrecision(3)))}</text>`,
    );
  }
  rates.forEach((rate, g) => {
    const x0 = left + g * groupWidth + groupGap / 2;
    series.forEach((label, s) => {
      const run = charted.find((r) => r.target_rate === rate && seriesLabel(r, withFlow) === label);
      if (!run) return;
      const x = x0 + s * bar;
      const value = p95(run);
      parts.push(
        `<rect x="${x}" y="${y(value)}" width="${bar - 2}" height="${top + plotHeight - y(value)}" fill="${PALETTE[s % PALETTE.length]}">` +
          `<title>${xml(`${label} @ ${rate}/s: p95 ${value.toFixed(2)} ms`)}</title></rect>`,
        // The value over each bar, so a short bar next to a tall one can still be read.
        `<text x="${x + (bar - 2) / 2}" y="${y(value) - 4}" text-anchor="middle" font-size="9">${xml(Number(value.toPrecision(3)))}</text>`,
      );
    });
    parts.push(`<text x="${x0 + (series.length * bar) / 2}" y="${top + plotHeight + 18}" text-anchor="middle">${rate}/s</text>`);
  });
  parts.push(
    `<line x1="${left}" y1="${top + plotHeight}" x2="${left + plotWidth}" y2="${top + plotHeight}" stroke="#333"/>`,
    `<text x="${left + plotWidth / 2}" y="${top + plotHeight + 40}" text-anchor="middle">target rate</text>`,
  );
  series.forEach((label, s) => {
    const ly = top + 10 + s * 20;
    parts.push(
      `<rect x="${left + plotWidth + 20}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[s % PALETTE.length]}"/>`,
      `<text x="${left + plotWidth + 38}" y="${ly}">${xml(label)}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** Runs that did not meet their thresholds or returned a wrong session count, said in words under the table. */
function problems(results) {
  const lines = [];
  for (const r of results) {
    const name = `${r.topology}-${r.mode} ${r.flow} @ ${r.target_rate}/s`;
    if (r.session_divergence > 0) lines.push(`- **${name}**: ${r.session_divergence} completed steps returned a wrong session count.`);
    if (!r.thresholds_ok) lines.push(`- **${name}**: thresholds failed (success ≥ 99% and p95 under the run's limit).`);
  }
  return lines;
}

// Dropped and Max VUs mean what each load generator can count.
const DROPPED = {
  k6: 'with k6, iterations it could not start for lack of a free VU',
  autocannon:
    'with autocannon, target iterations (rate × duration) minus completed ones: it never refuses an iteration, ' +
    'a saturated connection starts its next one late, and Max VUs is its fixed connection count',
};

export function renderMarkdown(results, { title = 'raftbox load test', svgLink = null } = {}) {
  const tools = [...new Set(results.map((r) => r.tool))];
  const dropped = tools.map((tool) => DROPPED[tool] || `with ${tool}, as that tool counts it`).join('; ');
  const issues = problems(results);
  return [
    `# ${title}`,
    '',
    `${results.length} runs (${tools.join(', ')}). Exec columns are client-observed latency from submit to the finished, ` +
      'checked result; Server Exec is the execution time the server reports (`duration_ms`). Success counts only ' +
      `results with the right value. Dropped: ${dropped}.`,
    '',
    renderTable(results),
    '',
    ...(issues.length > 0 ? ['**Problems**', '', ...issues, ''] : []),
    '## P95 latency',
    '',
    renderMermaid(results),
    '',
    ...(svgLink ? [`![P95 latency](${svgLink})`, ''] : []),
  ].join('\n');
}

function parseArgs(argv) {
  const args = { dir: null, md: null, svg: null, title: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--md' || flag === '--svg' || flag === '--title') args[flag.slice(2)] = argv[++i];
    else if (args.dir === null && !flag.startsWith('--')) args.dir = flag;
    else throw new Error(`unknown argument ${flag}`);
  }
  if (args.dir === null) throw new Error('usage: report.js <results dir> [--md file] [--svg file] [--title text]');
  return args;
}

/** Renders every result file in `dir` to `md` and `svg` (defaults: <dir>/report.md, <dir>/p95.svg); returns the Markdown. */
export function writeReport(dir, { md = join(dir, 'report.md'), svg = join(dir, 'p95.svg'), title } = {}) {
  const results = loadResults(dir);
  if (results.length === 0) throw new Error(`no ${SCHEMA} result files in ${dir}`);
  for (const file of [md, svg]) mkdirSync(dirname(file), { recursive: true });
  writeFileSync(svg, renderSvg(results));
  const markdown = renderMarkdown(results, { title, svgLink: relative(dirname(md), svg) });
  writeFileSync(md, markdown);
  return markdown;
}

function main(argv) {
  const args = parseArgs(argv);
  process.stdout.write(writeReport(args.dir, { md: args.md || undefined, svg: args.svg || undefined, title: args.title }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`report.js: ${err.message}\n`);
    process.exit(1);
  }
}
