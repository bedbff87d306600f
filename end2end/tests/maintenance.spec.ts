import { test, expect, Page } from "@playwright/test";

// A maintenance window scheduled from a part's card on the first server of
// playwright.config.ts (--auth none): the card, the timeline and the embed
// show it while it holds a voucher back; when it ends the window is
// replayed and the voucher submitted.

test.skip(!!process.env.BASE_URL, "needs the server started by this config");

async function hydrated(page: Page, lazyPath?: string) {
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  if (lazyPath) await expect(html).toHaveAttribute("data-interactive", lazyPath, { timeout: 30_000 });
}

test("a maintenance window scheduled from the card holds, shows on the card, timeline and embed, ends and is replayed", async ({ page, request }) => {
  test.setTimeout(120_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  await hydrated(page);
  const card = page.locator('article.part-card[data-part="member"]');
  await expect(card).toHaveAttribute("data-circuit", "closed");

  // The dialog is its own wasm chunk, fetched on first open.
  await card.getByRole("button", { name: "Maintenance…" }).click();
  const dialog = page.locator("#maintenance-dialog");
  await expect(dialog).toBeVisible({ timeout: 30_000 });
  await expect(dialog.locator("#maintenance-none")).toBeVisible();
  // Without a reason it is refused, naming the field.
  await page.locator("#maintenance-by").fill("e2e");
  await page.locator("#maintenance-end").fill(new Date(Date.now() + 15_000).toISOString());
  await page.locator("#maintenance-confirm").click();
  await expect(dialog.locator("#maintenance-reason-error")).toContainText("reason is required");
  // A short window from now.
  const end = new Date(Date.now() + 15_000).toISOString();
  await page.locator("#maintenance-end").fill(end);
  await page.locator("#maintenance-reason").fill("vendor database upgrade");
  await page.locator("#maintenance-confirm").click();
  const row = dialog.locator('.maintenance-window[data-state="active"]');
  await expect(row).toContainText("vendor database upgrade (by e2e)");
  const id = await row.getAttribute("data-window");
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();

  // The card: the circuit held open, by whom and until when.
  await expect(card).toHaveAttribute("data-circuit", "open");
  await expect(card.locator(".circuit-reason")).toHaveText("held open by maintenance: vendor database upgrade");
  await expect(card.locator(".maintenance-by")).toHaveText("e2e");
  await page.screenshot({ path: "test-results/artifacts/maintenance-card.png", fullPage: true });

  // A voucher for the part is held back.
  const voucherId = `e2e-maint-${Date.now().toString(36)}`;
  const res = await request.post("/api/v1/vouchers", {
    data: {
      part: "member",
      loyalty_request_id: voucherId,
      loyalty_reference: "L",
      merchant_reference: "M",
      loyalty_order_reference: "O",
      payload: { points: 1 },
    },
  });
  const held = await res.json();
  expect(held.status).toBe("retry");
  expect(held.last_error).toBe("circuit open: part member is in maintenance");

  // The timeline shows the window as a band on the part's track.
  await page.goto("/timeline");
  await hydrated(page, "/timeline");
  const band = page.locator(`.timeline-part[data-part="member"] .maintenance-band[data-window="${id}"]`);
  await expect(band).toHaveCount(1);
  await expect(band).toHaveAttribute("aria-label", /Maintenance of member: .* vendor database upgrade \(by e2e\)/);

  // The embed says "Maintenance" for the part.
  await page.goto("/embed/parts/member");
  await expect(page.locator("li.part")).toHaveClass(/maintenance/);
  await expect(page.locator("li.part")).toContainText("Maintenance");
  await expect(page.locator("li.part")).toContainText("vendor database upgrade");
  const badge = await (await request.get("/badge/member/status.json")).json();
  expect(badge.message).toBe("maintenance");

  // The window ends: the circuit closes, the window is replayed and the
  // voucher submitted.
  await page.goto("/");
  await hydrated(page);
  await expect(card).toHaveAttribute("data-circuit", "closed", { timeout: 30_000 });
  let replay = "";
  await expect(async () => {
    const { windows } = await (await request.get("/api/v1/parts/member/maintenance")).json();
    const w = windows.find((x: { id: string }) => x.id === id);
    expect(w.state).toBe("replayed");
    replay = w.replay;
  }).toPass({ timeout: 30_000, intervals: [500] });
  await expect(async () => {
    const v = await (await request.get(`/api/v1/vouchers/${voucherId}`)).json();
    expect(v.status).toBe("submitted");
  }).toPass({ timeout: 30_000, intervals: [500] });
  const r = await (await request.get(`/api/v1/replays/${replay}`)).json();
  expect(r.trigger).toBe("maintenance");
  // The card's latest replay is the window's.
  await expect(card.locator(".latest-replay")).toContainText(replay);
  await page.screenshot({ path: "test-results/artifacts/maintenance-replayed.png", fullPage: true });
  expect(errors).toEqual([]);
});
