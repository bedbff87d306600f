import { test, expect, Page } from "@playwright/test";

/** Waits until the wasm bundle has hydrated the page (set by an Effect). */
async function hydrated(page: Page) {
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true");
}

test("overview lists every part and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await hydrated(page);
  const cards = page.locator("article.card");
  await expect(cards).toHaveCount(3);
  await expect(cards.nth(0)).toHaveAttribute("data-part", "voucher");
  await expect(cards.nth(0).locator(".pill")).toHaveText(/unknown|up|pending/i);

  // Refresh works only once hydrated: it calls a server function and
  // re-renders with a new snapshot time.
  const before = await page.locator("#generated-at").textContent();
  await page.waitForTimeout(20);
  const call = page.waitForResponse((r) => r.url().includes("/api/") && r.request().method() === "POST");
  await page.locator("#refresh").click();
  expect((await call).status()).toBe(200);
  await expect(page.locator("#generated-at")).not.toHaveText(before ?? "");

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
