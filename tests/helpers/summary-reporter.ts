/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after
 * vitest's own summary, so that CI logs (and tools that read them) see the
 * outcome without parsing colours. Skipped tests are named by file above that
 * line: a skipped suite is a suite that did not run, and must be visible
 * (under CI=true a missing requirement fails instead: tests/helpers/requirements.ts).
 */
import path from "node:path";
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    const skippedByFile: string[] = [];
    for (const module of modules) {
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed++;
      let here = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else here++;
      }
      skipped += here;
      if (here > 0) skippedByFile.push(`  ${here} skipped in ${path.relative(process.cwd(), module.moduleId)}`);
    }
    if (skippedByFile.length > 0) process.stdout.write(`\nskipped (see the SKIPPED lines above for why):\n${skippedByFile.join("\n")}\n`);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
