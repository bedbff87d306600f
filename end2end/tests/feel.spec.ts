import { test, expect, Page } from "@playwright/test";

// The console's feel: times in the reader's zone (UTC on the server), counts
// with thousands separators, the live-connection indicator, the skip link.

async function hydrated(page: Page) {
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
}

test.describe("times", () => {
  test.use({ timezoneId: "Asia/Kolkata" });

  test("are UTC as served, then local after hydration, with a remembered UTC toggle", async ({ page, request }) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error" || /hydrat/i.test(m.text())) errors.push(m.text());
    });
    // The server renders UTC (it does not know the reader's zone).
    const html = await (await request.get("/")).text();
    expect(html).toMatch(/id="generated-at"[^>]*>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</);
    expect(html).toMatch(/id="zone-toggle"[^>]*>.*Times: .*>UTC</);
    expect(html).not.toContain("UTC+05:30");

    await page.goto("/");
    await hydrated(page);
    const updated = page.locator("#generated-at");
    const toggle = page.locator("#zone-toggle");
    // After hydration: the browser's zone, named on the toggle and on each time.
    await expect(toggle).toHaveText(/^Times: local \(Asia\/(Kolkata|Calcutta)\)$/);
    await expect(updated).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+05:30$/);
    // The same instant: the shown local time is the datetime attribute + 5:30
    // (both read at once: live updates re-render the time meanwhile).
    const shown = () => updated.evaluate((e) => [e.getAttribute("datetime")!, e.textContent!]);
    await expect(async () => {
      const [iso, text] = await shown();
      const shifted = new Date(Date.parse(iso) + 330 * 60_000).toISOString();
      expect(text).toBe(`${shifted.slice(0, 10)} ${shifted.slice(11, 19)} UTC+05:30`);
    }).toPass({ timeout: 10_000 });

    // The toggle switches to UTC, and the choice survives a reload.
    await toggle.click();
    await expect(toggle).toHaveText("Times: UTC");
    await expect(async () => {
      const [iso, text] = await shown();
      expect(text).toBe(`${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`);
    }).toPass({ timeout: 10_000 });
    await page.reload();
    await hydrated(page);
    await expect(page.locator("#zone-toggle")).toHaveText("Times: UTC");
    await expect(page.locator("#zone-toggle")).toHaveAttribute("data-zone", "utc");
    await expect(page.locator("#generated-at")).toHaveText(/ UTC$/);
    // Other pages follow the choice (a lazy page's times too).
    await page.locator("#zone-toggle").click();
    await page.goto("/replays");
    await hydrated(page);
    await expect(page.locator("#zone-toggle")).toHaveText(/^Times: local \(Asia\/(Kolkata|Calcutta)\)$/);
    expect(errors).toEqual([]);
  });
});

test("counts show thousands separators", async ({ page, request }) => {
  test.setTimeout(120_000);
  const run = Date.now().toString(36);
  const n = 1000;
  for (let start = 0; start < n; start += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, k) => start + k).map(async (i) => {
        const res = await request.post("/api/v1/vouchers", {
          data: {
            part: "member",
            loyalty_request_id: `e2e-feel-${run}-${i}`,
            loyalty_reference: `L${i}`,
            merchant_reference: `M${i}`,
            loyalty_order_reference: `O${i}`,
            payload: { points: i },
          },
        });
        expect(res.status()).toBeLessThan(300);
      }),
    );
  }
  const { parts } = await (await request.get("/api/v1/parts")).json();
  const member = parts.find((p: { name: string }) => p.name === "member");
  const submitted: number = member.vouchers.submitted;
  expect(submitted).toBeGreaterThanOrEqual(n);
  await page.goto("/");
  await hydrated(page);
  const counter = page.locator('article[data-part="member"] [data-counter="submitted"]');
  await expect(counter).toHaveText(/^\d{1,3}(,\d{3})+$/);
  const shown = Number((await counter.textContent())!.replace(/,/g, ""));
  expect(shown).toBeGreaterThanOrEqual(submitted);
  expect((await counter.textContent())!).toBe(shown.toLocaleString("en-US"));
});

test("the live indicator says connected, reconnecting or polling", async ({ page }) => {
  await page.goto("/");
  await hydrated(page);
  const indicator = page.locator("#live-indicator");
  await expect(indicator).toHaveAttribute("aria-live", "polite");
  await expect(indicator).toHaveAttribute("data-link", "sse");
  await expect(indicator).toContainText("Live");
  await expect(page.locator("html")).toHaveAttribute("data-live", "sse");
});

test("the live indicator says reconnecting while the stream is unreachable", async ({ page }) => {
  // A network failure: the browser keeps retrying the stream.
  await page.route("**/api/v1/stream", (route) => route.abort("connectionrefused"));
  await page.goto("/");
  await hydrated(page);
  const indicator = page.locator("#live-indicator");
  await expect(indicator).toHaveAttribute("data-link", "reconnecting");
  await expect(indicator).toContainText("Reconnecting");
  // Words, not colour alone.
  await expect(indicator).toContainText("Updates:");
});

test("the live indicator says polling when the stream is refused for good, and the page refreshes", async ({ page, request }) => {
  // An HTTP error closes the EventSource for good: the console polls.
  await page.route("**/api/v1/stream", (route) => route.fulfill({ status: 404, body: "no stream" }));
  await page.goto("/");
  await hydrated(page);
  const indicator = page.locator("#live-indicator");
  await expect(indicator).toHaveAttribute("data-link", "polling");
  await expect(indicator).toContainText("Polling");
  // Polling refreshes the overview by itself.
  const before = await page.locator("#generated-at").getAttribute("datetime");
  await expect(page.locator("#generated-at")).not.toHaveAttribute("datetime", before ?? "", { timeout: 10_000 });
  expect(request).toBeTruthy();
});

test("the first Tab reaches the skip link, which moves past the navigation", async ({ page }) => {
  await page.goto("/");
  await hydrated(page);
  await page.keyboard.press("Tab");
  const skip = page.locator("a.skip-link");
  await expect(skip).toBeFocused();
  await expect(skip).toHaveText("Skip to content");
  await expect(skip).toBeVisible();
  await page.keyboard.press("Enter");
  await expect(page.locator("main#content")).toBeFocused();
  // The next Tab is inside the page, not the navigation.
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => !!document.activeElement?.closest("main"))).toBe(true);
});
