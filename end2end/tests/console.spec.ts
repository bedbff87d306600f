import { test, expect, Page } from "@playwright/test";

/** The pages whose code is a lazy wasm chunk, hydrated after the app. */
const LAZY_PAGES = new Set(["/timeline", "/incidents", "/replays", "/vouchers", "/archives", "/embeds", "/audit"]);

/**
 * Waits until the wasm bundle has hydrated the page (set by an Effect) and,
 * on a lazy page, until that page's own code has hydrated it too (its form
 * handlers are attached: `data-interactive` names the page's path).
 */
async function hydrated(page: Page) {
  // The debug wasm bundle is large: its first compile can take a while on a
  // loaded machine.
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  const path = new URL(page.url()).pathname;
  if (LAZY_PAGES.has(path)) {
    await expect(html).toHaveAttribute("data-interactive", path, { timeout: 30_000 });
  }
}

test("overview lists every part and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // The lazy routes' and the replay dialog's wasm chunks (--split) are not
  // part of the overview's download: only the main module is fetched.
  const wasm = new Set<string>();
  page.on("request", (r) => {
    if (r.url().endsWith(".wasm")) wasm.add(new URL(r.url()).pathname);
  });
  await page.goto("/");
  await hydrated(page);
  // (under /pkg/<content hash>/ when the site is built into the binary)
  expect([...wasm]).toHaveLength(1);
  expect([...wasm][0]).toMatch(/^\/pkg\/([0-9a-f]{20}\/)?mediator\.wasm$/);
  const cards = page.locator("article.card");
  await expect(cards).toHaveCount(3);
  await expect(cards.nth(0)).toHaveAttribute("data-part", "voucher");
  await expect(cards.nth(0).locator(".pill")).toHaveText(/unknown|up|pending/i);

  // Refresh works only once hydrated: it calls a server function and
  // re-renders with a new snapshot time.
  const before = await page.locator("#generated-at").getAttribute("datetime");
  await page.waitForTimeout(20);
  const call = page.waitForResponse((r) => r.url().includes("/api/") && r.request().method() === "POST");
  await page.locator("#refresh").click();
  expect((await call).status()).toBe(200);
  await expect(page.locator("#generated-at")).not.toHaveAttribute("datetime", before ?? "");

  await page.screenshot({ path: "test-results/artifacts/overview-desktop.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("narrow screens fold the navigation behind a working menu button", async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto("/");
  await hydrated(page);
  const toggle = page.locator(".menu-toggle");
  const replays = page.getByRole("link", { name: "Replays" });
  await expect(toggle).toBeVisible();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(replays).toBeHidden();

  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await expect(replays).toBeVisible();
  await page.screenshot({ path: "test-results/artifacts/overview-375-menu.png", fullPage: true });

  // Client-side navigation: the route changes without a full page load.
  await replays.click();
  await expect(page).toHaveURL(/\/replays$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Replays");
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true");
});

test("unknown pages get the 404 page with navigation", async ({ page }) => {
  const res = await page.goto("/does-not-exist");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
  await expect(page.getByRole("link", { name: "Overview", exact: true })).toBeVisible();
});

test("a part that goes down at the SaaS shows down, then recovers", async ({ page, request }) => {
  test.skip(!!process.env.BASE_URL, "needs the simulated SaaS started by this config");
  const sim = `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;
  await page.goto("/");
  await hydrated(page);
  const voucher = page.locator('article.card[data-part="voucher"]');

  const refreshUntil = async (status: string) => {
    await expect(async () => {
      await page.locator("#refresh").click();
      await expect(voucher).toHaveAttribute("data-status", status, { timeout: 500 });
    }).toPass({ timeout: 15_000 });
  };

  await refreshUntil("up");
  expect((await request.post(`${sim}/sim/parts/voucher/down`)).ok()).toBeTruthy();
  await refreshUntil("down");
  await expect(voucher.locator(".pill")).toHaveText(/down/i);
  await expect(voucher).toContainText("HTTP 503");
  await expect(page.locator('article.card[data-part="points"]')).toHaveAttribute("data-status", "up");
  await page.screenshot({ path: "test-results/artifacts/overview-voucher-down.png", fullPage: true });

  expect((await request.post(`${sim}/sim/parts/voucher/up`)).ok()).toBeTruthy();
  await refreshUntil("up");
});

test("checking a part now shows what the check found, and not twice within seconds", async ({ page }) => {
  await page.goto("/");
  await hydrated(page);
  const card = page.locator('article.card[data-part="points"]');
  const button = card.getByRole("button", { name: "Check now" });
  await button.click();
  await expect(card.locator(".check-result")).toContainText(/Checked now: healthy in \d+ ms/);
  // The answer stays when the overview is fetched again (cards are rebuilt).
  const updated = await page.locator("#generated-at").getAttribute("datetime");
  await page.waitForTimeout(600); // past the overview read model's 500 ms cache
  await page.locator("#refresh").click();
  await expect(page.locator("#generated-at")).not.toHaveAttribute("datetime", updated ?? "");
  await expect(card.locator(".check-result")).toContainText(/Checked now: healthy in \d+ ms/);
  await button.click();
  await expect(card.locator(".check-result")).toContainText(/try again in \d s/);
});

// ---- live console ----------------------------------------------------------

const sim = () => `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;

/** Polls the JSON API until `part` has `status`. */
async function waitForStatus(request: import("@playwright/test").APIRequestContext, part: string, status: string) {
  await expect(async () => {
    const parts = await (await request.get("/api/v1/parts")).json();
    expect(parts.parts.find((p: { name: string }) => p.name === part).status).toBe(status);
  }).toPass({ timeout: 15_000, intervals: [100] });
}

/** Waits until the live-update stream is connected (set by the app). */
async function liveConnected(page: Page) {
  await hydrated(page);
  await expect(page.locator("html")).toHaveAttribute("data-live", "sse");
}

test("the overview follows a part going down live, without reload", async ({ page, request }) => {
  test.skip(!!process.env.BASE_URL, "needs the simulated SaaS started by this config");
  await request.post(`${sim()}/sim/parts/voucher/up`);
  await waitForStatus(request, "voucher", "up");
  await page.goto("/");
  await liveConnected(page);
  const card = page.locator('article.part-card[data-part="voucher"]');
  await expect(card).toHaveAttribute("data-status", "up");
  // A marker on window survives only if the page is never reloaded.
  await page.evaluate(() => ((window as unknown as { __noReload: string }).__noReload = "kept"));
  const box = await card.boundingBox();

  const t0 = Date.now();
  expect((await request.post(`${sim()}/sim/parts/voucher/down`)).ok()).toBeTruthy();
  await expect(card).toHaveAttribute("data-status", "down");
  const seconds = (Date.now() - t0) / 1000;
  await expect(card.locator(".card-head .pill")).toHaveText(/down/i);
  await expect(card).toHaveAttribute("data-circuit", "open");
  await expect(card.locator(".circuit-reason")).toContainText("failed checks");
  expect(await page.evaluate(() => (window as unknown as { __noReload?: string }).__noReload)).toBe("kept");
  // Reserved space: the card does not change size when data arrives.
  const after = await card.boundingBox();
  expect(Math.abs((after?.height ?? 0) - (box?.height ?? 0))).toBeLessThan(2);
  console.log(`down at the simulator → card shows down: ${seconds.toFixed(2)} s (3 checks at 0.2 s + push)`);
  await page.screenshot({ path: "test-results/artifacts/overview-live-down.png", fullPage: true });

  expect((await request.post(`${sim()}/sim/parts/voucher/up`)).ok()).toBeTruthy();
  await expect(card).toHaveAttribute("data-status", "up");
  expect(await page.evaluate(() => (window as unknown as { __noReload?: string }).__noReload)).toBe("kept");
});

test("clicking an outage previews, replays and follows the progress to COMPLETED", async ({ page, request }) => {
  test.skip(!!process.env.BASE_URL, "needs the simulated SaaS started by this config");
  // An outage holding three vouchers back.
  await request.post(`${sim()}/sim/parts/voucher/up`);
  await waitForStatus(request, "voucher", "up");
  expect((await request.post(`${sim()}/sim/parts/voucher/down`)).ok()).toBeTruthy();
  await waitForStatus(request, "voucher", "down");
  const run = Date.now().toString(36);
  for (let i = 0; i < 3; i++) {
    const res = await request.post("/api/v1/vouchers", {
      data: {
        part: "voucher",
        loyalty_request_id: `e2e-outage-${run}-${i}`,
        loyalty_reference: `L${i}`,
        merchant_reference: `M${i}`,
        loyalty_order_reference: `O${i}`,
        payload: { points: i },
      },
    });
    expect((await res.json()).status).toBe("retry");
  }
  expect((await request.post(`${sim()}/sim/parts/voucher/up`)).ok()).toBeTruthy();
  await waitForStatus(request, "voucher", "up");
  // The automatic recovery replay runs first; wait until no replay is active.
  await expect(async () => {
    const { replays } = await (await request.get("/api/v1/replays")).json();
    expect(replays.length).toBeGreaterThan(0);
    for (const r of replays) expect(["COMPLETED", "CANCELLED", "FAILED", "NOT_STARTED"]).toContain(r.state);
  }).toPass({ timeout: 20_000, intervals: [200] });

  await page.goto("/timeline");
  await liveConnected(page);
  const outage = page.locator('.timeline-part[data-part="voucher"] .outage').last();
  await expect(outage).toBeVisible();
  // Hover (and keyboard focus) shows the outage's facts.
  await outage.hover();
  const tip = outage.locator(".tip");
  await expect(tip).toBeVisible();
  await expect(tip).toContainText("Start:");
  await expect(tip).toContainText("End:");
  await expect(tip).toContainText("Duration:");
  await expect(tip).toContainText("Retries held: 3");
  await page.screenshot({ path: "test-results/artifacts/timeline-outage-hover.png", fullPage: true });

  await outage.click();
  const dialog = page.locator("#replay-dialog");
  await expect(dialog).toBeVisible();
  await expect(page.locator("#replay-start")).toBeFocused();
  await expect(page.locator("#replay-start")).toHaveValue(/^\d{4}-\d\d-\d\dT/);
  await expect(page.locator("#replay-end")).toHaveValue(/^\d{4}-\d\d-\d\dT/);
  // Preview counts from our own ledger, before confirming.
  await expect(page.locator("#preview-archived")).toHaveText(/^[3-9]\d*$/);
  await expect(page.locator("#preview-pending")).toHaveText("0");
  // The window ends within the archive's lag: the dialog warns.
  await expect(dialog.locator(".warning")).toContainText("archive's lag");
  await page.screenshot({ path: "test-results/artifacts/replay-dialog-preview.png", fullPage: true });

  // With sign-in off, "Started by" is asked, and required like the reason:
  // each error names its field.
  await page.locator("#replay-confirm").click();
  await expect(dialog.locator("#replay-by-error")).toContainText("is required");
  await page.locator("#replay-by").fill("e2e operator");
  await page.locator("#replay-confirm").click();
  await expect(dialog.locator("#replay-reason-error")).toContainText("reason is required");
  await page.locator("#replay-reason").fill("vouchers held during the outage");
  await page.locator("#replay-confirm").click();
  const progress = dialog.locator(".live-replay .replay-progress");
  await expect(progress).toHaveAttribute("data-state", "COMPLETED", { timeout: 20_000 });
  await expect(progress.locator('[role="progressbar"]')).toHaveAttribute("aria-valuenow", "100");
  await page.screenshot({ path: "test-results/artifacts/replay-dialog-completed.png", fullPage: true });

  // Escape closes the dialog and gives focus back to the outage.
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await expect(outage).toBeFocused();

  await page.goto("/replays");
  await hydrated(page);
  const row = page.locator("#replays tbody tr").first();
  await expect(row).toHaveAttribute("data-state", "COMPLETED");
  await expect(row).toContainText("voucher");
  await row.locator("a").first().click();
  await expect(page.locator("#replay-detail")).toHaveAttribute("data-state", "COMPLETED");
  await page.screenshot({ path: "test-results/artifacts/replays.png", fullPage: true });

  await page.goto("/incidents");
  await hydrated(page);
  await expect(page.locator("#incidents tbody tr").first()).toContainText("voucher");
  await page.locator("#incidents tbody tr a").first().click();
  await expect(page.locator("#incident-detail")).toContainText("Retries held");
  await page.screenshot({ path: "test-results/artifacts/incidents.png", fullPage: true });
});

test("the timeline zooms from 90 days to a day's hours and an hour's minutes", async ({ page }) => {
  await page.goto("/timeline");
  await hydrated(page);
  const voucher = page.locator('.timeline-part[data-part="voucher"]');
  await expect(voucher).toHaveAttribute("data-granularity", "day");
  await expect(voucher.locator("ol.bars li")).toHaveCount(90);
  const today = voucher.locator("a.bar").last();
  await expect(today).toHaveAttribute("aria-label", /^\d{4}-\d\d-\d\d: /);
  await today.click();
  await expect(page).toHaveURL(/at=\d{4}-\d\d-\d\d$/);
  await expect(voucher).toHaveAttribute("data-granularity", "hour");
  await expect(voucher.locator("ol.bars li")).toHaveCount(24);
  await voucher.locator("a.bar:not(.nodata)").last().click();
  await expect(page).toHaveURL(/at=\d{4}-\d\d-\d\dT\d\d$/);
  await expect(voucher).toHaveAttribute("data-granularity", "minute");
  await expect(voucher.locator("ol.bars li")).toHaveCount(60);
  await expect(voucher.locator(".bar").first()).toHaveAttribute("role", "img");
  // Keyboard: an outage is focusable and shows its facts on focus.
  const outages = voucher.locator(".outage");
  if ((await outages.count()) > 0) {
    await outages.last().focus();
    await expect(outages.last().locator(".tip")).toBeVisible();
    await expect(outages.last().locator(".tip")).toContainText("Retries held:");
  }
  await page.screenshot({ path: "test-results/artifacts/timeline-minutes.png", fullPage: true });
  await page.getByRole("link", { name: "90 days" }).click();
  await expect(voucher).toHaveAttribute("data-granularity", "day");
});

test("submitting a voucher shows per-field errors, then traces its lifecycle", async ({ page, request }) => {
  if (!process.env.BASE_URL) {
    await request.post(`${sim()}/sim/parts/voucher/up`);
    await waitForStatus(request, "voucher", "up");
  }
  await page.goto("/vouchers");
  await hydrated(page);
  const id = `e2e-voucher-${Date.now().toString(36)}`;
  await page.locator("#voucher-loyalty_request_id").fill(id);
  await page.locator("#voucher-merchant_reference").fill("MERCH-1");
  await page.locator("#voucher-loyalty_order_reference").fill("M101-S76-OP10-T65");
  await page.locator("#submit-voucher button[type=submit]").click();
  // The server's validation names the missing field; the form shows it there.
  const err = page.locator('.field-error[data-field="loyalty_reference"]');
  await expect(err).toContainText("is required");
  await expect(page.locator("#voucher-loyalty_reference")).toHaveAttribute("aria-invalid", "true");
  await page.screenshot({ path: "test-results/artifacts/vouchers-field-error.png", fullPage: true });

  await page.locator("#voucher-loyalty_reference").fill("LOY-1");
  await page.locator("#submit-voucher button[type=submit]").click();
  await expect(err).toBeEmpty();
  const result = page.locator("#submit-result");
  await expect(result).toContainText("Accepted");
  await expect(result).toContainText(id);

  await page.locator("#voucher-search").fill(id);
  await page.locator("#search-voucher button[type=submit]").click();
  await expect(page).toHaveURL(new RegExp(`ref=${id}`));
  const found = page.locator("#search-results a", { hasText: id });
  await expect(found).toBeVisible();
  await found.click();
  const lifecycle = page.locator("#voucher-lifecycle");
  await expect(lifecycle.locator('li[data-status="received"]')).toBeVisible();
  await expect(lifecycle.locator('li[data-status="submitted"]')).toBeVisible();
  await expect(lifecycle.locator("time").first()).toHaveText(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
  await page.screenshot({ path: "test-results/artifacts/vouchers-lifecycle.png", fullPage: true });
});

test("every console page renders meaningful HTML before hydration and is screenshotted", async ({ page, request }) => {
  const pages: [string, string, string][] = [
    ["/", "Overview", "article.part-card"],
    ["/timeline", "Timeline", ".timeline-part ol.bars li"],
    ["/incidents", "Incidents", "#incidents"],
    ["/replays", "Replays", "#replays"],
    ["/vouchers", "Vouchers", "#submit-voucher"],
    ["/archives", "Archives", "#archives tbody tr"],
    ["/embeds", "Embeds", "article.embed"],
  ];
  for (const [path, title, selector] of pages) {
    // Server-rendered HTML alone (no JavaScript) carries the data.
    const html = await (await request.get(path)).text();
    expect(html, path).toContain(`<h1>${title}</h1>`);
    await page.goto(path);
    await hydrated(page);
    await expect(page.locator(selector).first()).toBeVisible();
    const name = path === "/" ? "overview" : path.slice(1);
    await page.screenshot({ path: `test-results/artifacts/page-${name}.png`, fullPage: true });
  }
  // With JavaScript off, the server's HTML alone shows the data.
  const noJs = await page.context().browser()!.newContext({ javaScriptEnabled: false });
  const plain = await noJs.newPage();
  await plain.goto(new URL("/", page.url()).toString());
  await expect(plain.locator("article.part-card")).toHaveCount(3);
  await expect(plain.locator('article.part-card[data-part="voucher"] .card-head .pill')).toHaveText(/up|down|pending|unknown/i);
  await plain.goto(new URL("/timeline", page.url()).toString());
  await expect(plain.locator('.timeline-part[data-part="voucher"] ol.bars li')).toHaveCount(90);
  await noJs.close();

  // 375 px wide and dark theme, chosen with the toggle and kept across pages.
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto("/");
  await hydrated(page);
  await page.locator("#theme-toggle").click();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width).toBeLessThanOrEqual(375);
  await page.screenshot({ path: "test-results/artifacts/overview-375-dark.png", fullPage: true });
  await page.goto("/timeline");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await page.screenshot({ path: "test-results/artifacts/timeline-375-dark.png", fullPage: true });
});
