// axe-core on one screen of a page: every WCAG 2.x A and AA rule and axe's
// best practices. A test calls expectAccessible(page, "screen name") on each
// screen it reaches, in light and dark; any violation fails with what and where.
import { AxeBuilder } from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { expect } from "vitest";

const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];

/** Each screen checked and how many rules it passed, printed at the end of a suite for the record. */
export const axeLog: string[] = [];

/** Checks what `page` shows now in the light and the dark colour scheme, and leaves it light. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  for (const colorScheme of ["dark", "light"] as const) {
    await page.emulateMedia({ colorScheme });
    await expectAccessibleNow(page, `${screen} (${colorScheme})`);
  }
}

async function expectAccessibleNow(page: Page, screen: string): Promise<void> {
  // Two frames, so a screen that just appeared is painted in its final colours.
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const results = await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const violations = results.violations.flatMap((violation) =>
    violation.nodes.map((node) => `${violation.id} (${violation.impact}): ${node.target.join(" ")}: ${node.failureSummary?.replace(/\s+/g, " ")}`),
  );
  axeLog.push(`${screen}: ${violations.length} violations, ${results.passes.length} rules passed`);
  expect(violations.join("\n"), `axe on ${screen}`).toBe("");
}
