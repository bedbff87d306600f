import { test, expect, Page, APIRequestContext } from "@playwright/test";

/** Waits until the app and the /vouchers page's own chunk have hydrated it. */
async function hydrated(page: Page) {
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  await expect(html).toHaveAttribute("data-interactive", "/vouchers", { timeout: 30_000 });
}

const sim = () => `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;

/** `n` vouchers of the points part dead-lettered (the server runs with --max-attempts 1). */
async function deadLetter(request: APIRequestContext, run: string, n: number): Promise<string[]> {
  expect((await request.post(`${sim()}/sim/parts/points/up`)).ok()).toBeTruthy();
  expect((await request.post(`${sim()}/sim/parts/points/error-rate`, { data: { rate: 1.0 } })).ok()).toBeTruthy();
  await expect(async () => {
    const { parts } = await (await request.get("/api/v1/parts")).json();
    expect(parts.find((p: { name: string }) => p.name === "points").status).toBe("up");
  }).toPass({ timeout: 20_000, intervals: [200] });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `e2e-dlq-${run}-${i}`;
    const res = await request.post("/api/v1/vouchers", {
      data: {
        part: "points",
        loyalty_request_id: id,
        loyalty_reference: `L${i}`,
        merchant_reference: `M${i}`,
        loyalty_order_reference: `O${i}`,
        payload: { points: i },
      },
    });
    expect((await res.json()).status).toBe("dead_lettered");
    ids.push(id);
  }
  expect((await request.post(`${sim()}/sim/parts/points/error-rate`, { data: { rate: 0.0 } })).ok()).toBeTruthy();
  return ids;
}

test("Redrive… takes a filter and a rate, shows live progress, and the export links follow the filter", async ({ page, request }) => {
  test.skip(!!process.env.BASE_URL, "needs the simulated SaaS and --max-attempts 1 of this config");
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const run = Date.now().toString(36);
  const ids = await deadLetter(request, run, 12);

  await page.goto("/vouchers");
  await hydrated(page);
  const dlq = page.locator("#dlq");
  await expect(dlq.locator(`tr[data-voucher="${ids[0]}"]`)).toBeVisible();

  await page.locator("#bulk-redrive-open").click();
  const dialog = page.getByRole("dialog", { name: "Redrive dead-lettered vouchers" });
  await expect(dialog).toBeVisible();
  await expect(page.locator("#bulk-part")).toBeFocused();

  // A bad field is named next to it, and nothing starts.
  await page.locator("#bulk-part").fill("nope");
  await page.locator("#bulk-rate").fill("4");
  await page.locator("#bulk-redrive-confirm").click();
  await expect(page.locator("#bulk-part-error")).toContainText("unknown part");
  await expect(page.locator("#bulk-redrives li")).toHaveCount(0);

  // The export links carry the dialog's filter.
  await page.locator("#bulk-part").fill("points");
  await expect(page.locator("#dlq-export-csv")).toHaveAttribute("href", "/api/v1/dlq/export?format=csv&part=points");
  const csv = await request.get((await page.locator("#dlq-export-csv").getAttribute("href"))!);
  expect(csv.status()).toBe(200);
  const lines = (await csv.text()).trim().split("\r\n");
  expect(lines[0]).toMatch(/^loyalty_request_id,part,/);
  for (const id of ids) expect(lines.some((l) => l.startsWith(`${id},points,`))).toBeTruthy();
  const ndjson = await request.get((await page.locator("#dlq-export-ndjson").getAttribute("href"))!);
  expect(ndjson.headers()["content-type"]).toBe("application/x-ndjson");

  // 12 vouchers at 4 a second: about three seconds, followed live.
  await page.locator("#bulk-redrive-confirm").click();
  await expect(page.locator("#bulk-redrive-started")).toContainText("12 voucher(s) at 4/s");
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(page.locator("#bulk-redrive-open")).toBeFocused();

  const row = page.locator("#bulk-redrives li").first();
  await expect(row).toHaveAttribute("data-state", "running");
  // Progress moves while it runs (a count between the first and the last).
  await expect(row.locator(".bulk-progress")).toHaveText(/^([1-9]|1[01]) \/ 12$/, { timeout: 10_000 });
  await expect(row.getByRole("progressbar")).toBeVisible();
  await expect(row).toHaveAttribute("data-state", "completed", { timeout: 20_000 });
  await expect(row.locator(".bulk-progress")).toHaveText("12 / 12");
  await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
  // The queue empties live, and each voucher was submitted once.
  await expect(dlq.locator(`tr[data-voucher^="e2e-dlq-${run}-"]`)).toHaveCount(0);
  const subs: { loyalty_request_id: string; accepted: number }[] = await (await request.get(`${sim()}/sim/submissions`)).json();
  for (const id of ids) {
    expect(subs.filter((s) => s.loyalty_request_id === id).map((s) => s.accepted)).toEqual([1]);
  }
  await page.screenshot({ path: "test-results/artifacts/dlq-bulk-redrive.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("a running bulk redrive is cancelled from the console", async ({ page, request }) => {
  test.skip(!!process.env.BASE_URL, "needs the simulated SaaS and --max-attempts 1 of this config");
  const run = Date.now().toString(36);
  await deadLetter(request, run, 10);
  await page.goto("/vouchers");
  await hydrated(page);
  await page.locator("#bulk-redrive-open").click();
  await page.locator("#bulk-part").fill("points");
  await page.locator("#bulk-rate").fill("1");
  await page.locator("#bulk-redrive-confirm").click();
  await expect(page.locator("#bulk-redrive-started")).toBeVisible();
  await page.getByRole("button", { name: "Close" }).click();
  const row = page.locator("#bulk-redrives li").first();
  await expect(row).toHaveAttribute("data-state", "running");
  await row.getByRole("button", { name: "Cancel redrive" }).click();
  await expect(row).toHaveAttribute("data-state", "cancelled", { timeout: 10_000 });
  const left = await (await request.get("/api/v1/dlq?limit=1000")).json();
  const mine = left.vouchers.filter((v: { loyalty_request_id: string }) => v.loyalty_request_id.startsWith(`e2e-dlq-${run}-`));
  expect(mine.length).toBeGreaterThan(0);
});
