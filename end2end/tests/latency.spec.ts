import { test, expect, Page } from "@playwright/test";

/** Waits until the app, and on a lazy page its own chunk, has hydrated it. */
async function hydrated(page: Page, lazyPath?: string) {
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  if (lazyPath) {
    await expect(html).toHaveAttribute("data-interactive", lazyPath, { timeout: 30_000 });
  }
}

const MS = /^\d+(\.\d+)? m?s$/;

test("the timeline charts each part's p50 and p95 response time per bar", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  for (const at of ["", `?at=${new Date().toISOString().slice(0, 13)}`]) {
    await page.goto(`/timeline${at}`);
    await hydrated(page, "/timeline");
    const chart = page.locator('.timeline-part[data-part="voucher"] figure.latency-chart');
    await expect(chart).toBeVisible();
    // The server polls every 0.2 s: the range has checks, so both
    // percentiles are numbers, in words and drawn.
    await expect(chart.locator(".p50-value")).toHaveText(MS);
    await expect(chart.locator(".p95-value")).toHaveText(MS);
    await expect(chart.locator("figcaption")).toContainText(/check\(s\)/);
    const svg = chart.locator("svg.latency-svg");
    await expect(svg).toHaveAttribute("aria-label", /^Response time of voucher per (day|minute): p50 .+ · p95 .+/);
    expect(await svg.locator("polyline.p50").count()).toBeGreaterThan(0);
    expect(await svg.locator("polyline.p95").count()).toBeGreaterThan(0);
    // One column per bar, each with its values as a tooltip.
    const bars = await page.locator('.timeline-part[data-part="voucher"] ol.bars li').count();
    await expect(svg.locator("rect.slot")).toHaveCount(bars);
    await expect(svg.locator("rect.slot title").last()).toHaveText(/: (p50 .+, p95 .+ \(\d+ check\(s\)\)|no checks)$/);
  }
  await page.screenshot({ path: "test-results/artifacts/timeline-latency.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("each overview card shows a sparkline of the last hour's response time", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await hydrated(page);
  for (const part of ["voucher", "member", "points"]) {
    const spark = page.locator(`article.card[data-part="${part}"] .latency-spark`);
    await expect(spark.locator("svg.sparkline")).toBeVisible();
    await expect(spark.locator("svg.sparkline polyline.p50").first()).toBeAttached();
    await expect(spark.locator(".latency-words")).toHaveText(/^p50 \d+(\.\d+)? m?s · p95 \d+(\.\d+)? m?s$/);
    await expect(spark.locator("svg.sparkline")).toHaveAttribute("aria-label", new RegExp(`^Response time of ${part} per minute`));
  }
  await page.locator('article.card[data-part="voucher"]').screenshot({ path: "test-results/artifacts/card-sparkline.png" });
  expect(errors).toEqual([]);
});
