import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, string>;
  'continue-on-error'?: string;
}
const workflow = parse(readFileSync(new URL('../../.github/workflows/load-test.yml', import.meta.url), 'utf8')) as {
  on: Record<string, unknown>;
  jobs: Record<string, { strategy?: { matrix: Record<string, unknown[]> }; steps: Step[]; needs?: string }>;
};

describe('.github/workflows/load-test.yml', () => {
  it('runs on pull requests and by hand, over the topology × mode × rate matrix', () => {
    expect(Object.keys(workflow.on).sort()).toEqual(['pull_request', 'workflow_dispatch']);
    expect(workflow.jobs.k6!.strategy!.matrix).toEqual({
      topology: ['single', 'cluster'],
      mode: ['stateless', 'stateful'],
      rate: [100, 200, 500, 1000],
    });
  });

  it('runs bench/k6/load-test.js with the k6 actions, gating on the lowest rate only', () => {
    const steps = workflow.jobs.k6!.steps;
    expect(steps.map((s) => s.uses).filter(Boolean)).toEqual(
      expect.arrayContaining(['grafana/setup-k6-action@v1', 'grafana/run-k6-action@v1', 'actions/upload-artifact@v4']),
    );
    const k6 = steps.find((s) => s.uses === 'grafana/run-k6-action@v1')!;
    expect(k6.with).toEqual({ path: 'bench/k6/load-test.js' });
    expect(k6['continue-on-error']).toBe('${{ matrix.rate != 100 }}');
    const runs = steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('npm run cluster -- --lb-port 8080');
    expect(runs).toContain('npm start');
    expect(runs).toContain('/readyz');
  });

  it('builds the report with report.js after every run, into the job summary and the pull request', () => {
    const report = workflow.jobs.report!;
    expect(report.needs).toBe('k6');
    const runs = report.steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('node bench/k6/report.js bench/out');
    expect(runs).toContain('$GITHUB_STEP_SUMMARY');
    expect(report.steps.some((s) => s.uses === 'actions/github-script@v7')).toBe(true);
  });
});
