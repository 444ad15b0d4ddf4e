/** How the CLI writes the SDK's step reports and compression checks as terminal text. */
import type { CompressionCheck } from '../check';
import { flagText } from '../check';
import type { StepReport } from '../step';
import { stepReportParts } from '../pipeline/displays';
import { Chart, Panel } from '../report';

/** Each step's report (lines, warnings, table), then its compression check, in chain order. */
export function stepReportsText(reports: readonly StepReport[]): string {
  return new Panel('Steps', reports.flatMap(stepReportParts)).toText();
}

/** The closing verdict of a set of checks: what a CI log should show last. */
export function verdictText(checks: readonly CompressionCheck[]): string {
  const flags = checks.flatMap((c) => c.flags);
  if (checks.length === 0) return 'No compression check ran.';
  if (flags.length === 0) return `✓ The compression check passed (${checks.length} step${checks.length === 1 ? '' : 's'} checked).`;
  return [`⚠ The compression check flagged ${flags.length} issue${flags.length === 1 ? '' : 's'}:`, ...flags.map((f) => `  - ${flagText(f)}`)].join('\n');
}

export function isFlagged(checks: readonly CompressionCheck[]): boolean {
  return checks.some((c) => !c.ok);
}

/** A panel as terminal text; its charts are left out (a notebook or `--json` has the numbers). */
export function panelText(panel: Panel): string {
  return new Panel(panel.title, panel.parts.filter((p) => !(p instanceof Chart))).toText();
}
