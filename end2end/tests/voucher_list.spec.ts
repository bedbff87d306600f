import { test, expect, Page } from "@playwright/test";

/** Waits until the app and the lazy /vouchers page have hydrated. */
async function interactive(page: Page) {
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  await expect(html).toHaveAttribute("data-interactive", "/vouchers", { timeout: 30_000 });
}

test("a count on the overview opens the vouchers of that part and status, a page at a time", async ({ page, request }) => {
  test.setTimeout(90_000);
  // 25 held vouchers of `points` (its circuit forced open): more than a page.
  const override = (body: object) => request.post("/api/v1/parts/points/override", { data: body });
  expect((await override({ mode: "force_open", reason: "list test", by: "e2e" })).ok()).toBeTruthy();
  try {
    const run = Date.now().toString(36);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const id = `e2e-list-${run}-${String(i).padStart(2, "0")}`;
      const res = await request.post("/api/v1/vouchers", {
        data: { part: "points", loyalty_request_id: id, loyalty_reference: `L${i}`,
          merchant_reference: `M${i}`, loyalty_order_reference: `O${i}`, payload: { points: i } },
      });
      expect((await res.json()).status).toBe("retry");
      ids.push(id);
    }
    const newest = ids[ids.length - 1];

    // The filter is the URL: the server renders the filtered list.
    const html = await (await request.get("/vouchers?part=points&status=retry")).text();
    expect(html).toContain(`data-voucher="${newest}"`);
    expect(html).toContain("Vouchers · part points · status retry");

    // The overview's pending-retries count links to that list.
    await page.goto("/");
    await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
    const count = page.locator('article.part-card[data-part="points"] [data-counter="retry"] a');
    await expect(count).toHaveAttribute("href", "/vouchers?part=points&status=retry");
    await expect(async () => {
      await page.locator("#refresh").click();
      expect(Number(await count.textContent({ timeout: 500 }))).toBeGreaterThanOrEqual(25);
    }).toPass({ timeout: 15_000 });
    // A client-side navigation: the page is rendered by the app's code, so
    // it is interactive once it shows.
    await count.click();
    await expect(page).toHaveURL(/\/vouchers\?part=points&status=retry$/);

    const list = page.locator("#voucher-list");
    await expect(list.getByRole("heading", { level: 2 })).toHaveText("Vouchers · part points · status retry");
    await expect(list.locator("#filter-status")).toHaveValue("retry");
    await expect(list.locator("#filter-part")).toHaveValue("points");
    const rows = list.locator("tbody tr");
    await expect(rows).toHaveCount(20);
    await expect(rows.first()).toHaveAttribute("data-voucher", newest);
    const pageIds = async () => {
      const seen = await rows.evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute("data-voucher"), tr.getAttribute("data-status")]));
      for (const [, status] of seen) expect(status).toBe("retry");
      return seen.map(([id]) => id as string);
    };
    const first = await pageIds();
    // Each row links to the voucher's trace.
    await expect(rows.first().getByRole("link")).toHaveAttribute("href", `/vouchers?id=${newest}`);

    // Forward: the next page continues after the first, without repeats.
    const seen = new Set(first);
    const next = list.getByRole("button", { name: "Next →" });
    while (await next.isEnabled()) {
      const before = await rows.first().getAttribute("data-voucher");
      await next.click();
      await expect(rows.first()).not.toHaveAttribute("data-voucher", before ?? "");
      for (const id of await pageIds()) {
        expect(seen.has(id), `${id} shown twice`).toBeFalsy();
        seen.add(id);
      }
    }
    for (const id of ids) expect(seen.has(id), `${id} listed`).toBeTruthy();
    await expect(list.getByRole("button", { name: "← Previous" })).toBeEnabled();
    await page.screenshot({ path: "test-results/artifacts/vouchers-filtered.png", fullPage: true });

    // A bad value from a hand-edited link names its field (server-rendered).
    await page.goto("/vouchers?part=points&status=done");
    await interactive(page);
    await expect(page.locator('#voucher-list [role="alert"][data-field="status"]')).toContainText(
      '"done" is not a voucher status');
  } finally {
    await override({ mode: "none" });
  }
});

test("the unfiltered list follows new vouchers live, fetched by the browser", async ({ page, request }) => {
  await page.goto("/vouchers");
  await interactive(page);
  const list = page.locator("#voucher-list");
  await expect(list.getByRole("heading", { level: 2 })).toHaveText("All vouchers");
  // A new voucher is a live change: the browser fetches the list again
  // with the empty filter (sent as no field at all).
  const id = `e2e-all-${Date.now().toString(36)}`;
  const res = await request.post("/api/v1/vouchers", {
    data: { part: "voucher", loyalty_request_id: id, loyalty_reference: "L-all",
      merchant_reference: "M-all", loyalty_order_reference: "O-all", payload: { points: 1 } },
  });
  expect(res.ok()).toBeTruthy();
  await expect(list.locator(`tbody tr[data-voucher="${id}"]`)).toBeVisible({ timeout: 15_000 });
  await expect(list).not.toContainText("request failed");
});
