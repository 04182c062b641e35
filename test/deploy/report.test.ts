import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { loadResults, renderMarkdown, renderMermaid, renderSvg, renderTable } from '../../bench/k6/report.js';

const fixtures = new URL('./fixtures/results/', import.meta.url).pathname;
const reportScript = new URL('../../bench/k6/report.js', import.meta.url).pathname;

describe('bench/k6/report.js', () => {
  it('reads only result files, ordered single before cluster, stateless before stateful, then by rate', () => {
    const results = loadResults(fixtures) as Array<{ topology: string; mode: string; target_rate: number }>;
    expect(results.map((r) => `${r.topology}-${r.mode}@${r.target_rate}`)).toEqual([
      'single-stateless@100',
      'single-stateless@500',
      'cluster-stateful@200',
      'cluster-stateful@1000',
    ]);
  });

  it("renders MCP-V8's columns plus the server-side exec time", () => {
    expect(renderTable(loadResults(fixtures))).toBe(
      [
        '| Topology | Flow | Target Rate | Actual Iter/s | HTTP Req/s | Exec Avg (ms) | Exec p95 (ms) | Exec p99 (ms) | Server Exec Avg (ms) | Server Exec p95 (ms) | Success % | Dropped | Max VUs |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
        '| single-stateless | wait | 100/s | 99.2 | 99.2 | 2.35 | 4.50 | 7.13 | 0.84 | 1.90 | 100.00% | 0 | 10 |',
        '| single-stateless | wait | 500/s | 494.2 | 494.2 | 3.50 | 9.75 | 20.00 | 0.84 | 1.90 | 100.00% | 0 | 50 |',
        '| cluster-stateful | wait | 200/s | 198.2 | 198.2 | 12.50 | 40.25 | 61.50 | 0.84 | 1.90 | 99.91% | 3 | 40 |',
        '| cluster-stateful | wait | 1000/s | 495.9 | 495.9 | 900.00 | 1800.00 | 2500.00 | 0.84 | 1.90 | 95.00% | 29700 | 1000 |',
      ].join('\n'),
    );
  });

  it('draws the P95 bar chart as a mermaid xychart with a round axis bound', () => {
    expect(renderMermaid(loadResults(fixtures))).toBe(
      [
        '```mermaid',
        'xychart-beta',
        '    title "Exec p95 latency by topology and target rate (ms, lower is better)"',
        '    x-axis ["single-stateless @100", "single-stateless @500", "cluster-stateful @200", "cluster-stateful @1000"]',
        '    y-axis "p95 (ms)" 0 --> 2000',
        '    bar [4.5, 9.75, 40.25, 1800]',
        '```',
      ].join('\n'),
    );
  });

  it('draws the same chart as SVG: one group per rate, one bar per series, a legend', () => {
    const svg = renderSvg(loadResults(fixtures)) as string;
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<title>/g)).toHaveLength(4);
    expect(svg).toContain('<title>cluster-stateful @ 1000/s: p95 1800.00 ms</title>');
    for (const label of ['100/s', '200/s', '500/s', '1000/s', 'single-stateless', 'cluster-stateful']) expect(svg).toContain(`>${label}</text>`);
    // The tallest bar reaches the top of the plot (axis bound 2000, value 1800 → 90%).
    expect(svg).toMatch(/<rect x="[\d.]+" y="66" width="20" height="234"/);
  });

  it('names failed thresholds and session divergence under the table', () => {
    const [first, ...rest] = loadResults(fixtures) as Array<Record<string, unknown>>;
    const markdown = renderMarkdown([{ ...first, session_divergence: 2 }, ...rest]) as string;
    expect(markdown).toContain('- **single-stateless wait @ 100/s**: 2 completed steps returned a wrong session count.');
    expect(markdown).toContain('- **cluster-stateful wait @ 1000/s**: thresholds failed');
  });

  it('as a command, writes report.md and p95.svg and prints the Markdown', () => {
    const out = mkdtempSync(join(tmpdir(), 'raftbox-report-'));
    const stdout = execFileSync(process.execPath, [reportScript, fixtures, '--md', join(out, 'report.md'), '--svg', join(out, 'svg', 'p95.svg')], {
      encoding: 'utf8',
    });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toBe(stdout);
    expect(stdout).toContain('![P95 latency](svg/p95.svg)');
    expect(readFileSync(join(out, 'svg', 'p95.svg'), 'utf8')).toContain('</svg>');
  });

  it('as a command, fails on a folder without results', () => {
    const empty = mkdtempSync(join(tmpdir(), 'raftbox-report-'));
    expect(() => execFileSync(process.execPath, [reportScript, empty], { stdio: 'pipe' })).toThrow(/no raftbox-bench\/1 result files/);
  });
});
