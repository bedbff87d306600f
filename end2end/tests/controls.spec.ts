import { test, expect, Page } from "@playwright/test";

// The console's controls, signed in on the second server of
// playwright.config.ts (--auth local: the operator `olga`, the viewer `vic`;
// replays paced at one archived event each 1.5 s; its EventBridge API on
// E2E_AUTH_EVENTS_PORT).
const auth = `http://127.0.0.1:${process.env.E2E_AUTH_PORT}`;
const events = `http://127.0.0.1:${process.env.E2E_AUTH_EVENTS_PORT}`;

test.skip(!!process.env.BASE_URL, "needs the --auth local server started by this config");

/** The overview is the main module's page: hydrated means interactive. */
async function hydrated(page: Page) {
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
}

async function signIn(page: Page, user: string, password: string) {
  await page.goto(`${auth}/`);
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(`${auth}/`);
  await hydrated(page);
}

type AuditEntry = { action: string; outcome: string; actor: string; target?: string; reason?: string };

/** The audit log as the signed-in operator reads it. */
async function auditLog(page: Page): Promise<AuditEntry[]> {
  const res = await page.request.get(`${auth}/api/v1/audit?format=json`);
  expect(res.status()).toBe(200);
  return (await res.json()).entries;
}

test("an operator forces a part open from its card with a reason, sees who, when and why, then clears it", async ({ page, browser }) => {
  await signIn(page, "olga", "operator-pass");
  const card = page.locator('article.part-card[data-part="points"]');
  await expect(card.locator(".override-set")).toHaveAttribute("data-mode", "none");
  await card.getByRole("button", { name: "Force open…" }).click();
  const dialog = page.locator("#override-dialog");
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText("held as retry");
  // Signed in: who acts is the user, not a field.
  await expect(dialog.locator("#override-actor")).toHaveText("olga");
  await expect(dialog.locator("#override-by")).toHaveCount(0);
  await expect(page.locator("#override-reason")).toBeFocused();
  // The dialog is the confirmation step; without a reason it is refused,
  // naming the field, and nothing changes.
  await page.locator("#override-confirm").click();
  await expect(dialog.locator("#override-reason-error")).toContainText("reason is required");
  await expect(card).toHaveAttribute("data-circuit", "closed");
  await page.locator("#override-reason").fill("vendor maintenance window");
  await page.locator("#override-confirm").click();
  await expect(dialog).toBeHidden();

  // The card says who, when and why.
  await expect(card).toHaveAttribute("data-circuit", "open");
  await expect(card.locator(".override-set")).toHaveAttribute("data-mode", "force_open");
  await expect(card.locator(".circuit-reason")).toHaveText("forced open: vendor maintenance window");
  await expect(card.locator(".override-by")).toHaveText("olga");
  await expect(card.locator(".override-at")).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC([+-]\d\d:\d\d)?$/);
  await page.screenshot({ path: "test-results/artifacts/override-forced-open.png", fullPage: true });

  // A viewer sees the same, without the controls.
  const viewer = await browser.newPage();
  await signIn(viewer, "vic", "viewer-pass");
  const seen = viewer.locator('article.part-card[data-part="points"]');
  await expect(seen).toHaveAttribute("data-circuit", "open");
  await expect(seen.locator(".override-by")).toHaveText("olga");
  await expect(seen.locator(".circuit-reason")).toContainText("vendor maintenance window");
  await expect(viewer.locator(".circuit-controls")).toHaveCount(0);
  await viewer.close();

  // Clearing is confirmed with a reason too.
  await card.getByRole("button", { name: "Clear override…" }).click();
  await expect(dialog).toHaveAttribute("data-mode", "none");
  await page.locator("#override-reason").fill("vendor is back");
  await page.locator("#override-confirm").click();
  await expect(dialog).toBeHidden();
  await expect(card.locator(".override-set")).toHaveAttribute("data-mode", "none");
  await expect(card).toHaveAttribute("data-circuit", "closed");

  const entries = await auditLog(page);
  const set = entries.find((e) => e.action === "override.set" && e.outcome === "ok" && e.target === "points");
  expect(set).toMatchObject({ actor: "olga", reason: "vendor maintenance window" });
  const cleared = entries.find((e) => e.action === "override.clear" && e.outcome === "ok" && e.target === "points");
  expect(cleared).toMatchObject({ actor: "olga", reason: "vendor is back" });
});

test("an operator replays a window with a reason, watches its cursor and cancels it from the dialog and the card", async ({ page, request }) => {
  test.setTimeout(90_000);
  // Ten retry events of `member`, a minute apart, archived straight through
  // the EventBridge API: paced at one each 1.5 s, the replay runs for ~15 s
  // and its cursor moves a minute of event time per event.
  const run = Date.now().toString(36);
  const now = Date.now();
  const detail = (i: number) =>
    JSON.stringify({
      metadata: {
        domain: "LEGO-LOYALTY",
        service: "service-loyalty-vendor-mediator",
        category: "task-status",
        type: "member",
        status: "retry",
      },
      data: {
        loyalty_request_id: `e2e-cursor-${run}-${i}`,
        loyalty_reference: "L",
        merchant_reference: "M",
        loyalty_order_reference: "O",
      },
    });
  const entries = Array.from({ length: 10 }, (_, i) => ({
    Time: Math.floor((now - (14 - i) * 60_000) / 1000),
    Source: "e2e",
    DetailType: "task-status",
    EventBusName: "loyalty-bus",
    Detail: detail(i),
  }));
  const put = await request.post(events, {
    headers: { "X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1" },
    data: JSON.stringify({ Entries: entries }),
  });
  expect(put.status()).toBe(200);
  expect((await put.json()).FailedEntryCount).toBe(0);
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
  const [start, end] = [iso(now - 16 * 60_000), iso(now - 2 * 60_000)];

  await signIn(page, "olga", "operator-pass");
  const card = page.locator('article.part-card[data-part="member"]');
  const dialog = page.locator("#replay-dialog");
  const open = async () => {
    await card.getByRole("button", { name: /Replay a window/ }).click();
    await expect(dialog).toBeVisible();
    // The preview of the proposed window first, then of ours.
    await expect(page.locator("#preview-archived")).toHaveText(/^\d+$/);
    await page.locator("#replay-start").fill(start);
    await page.locator("#replay-end").fill(end);
    await dialog.getByRole("button", { name: "Preview" }).click();
    // The bus archived the ten events; none is a retry event the
    // mediator held, so its own count of the window is 0.
    await expect(page.locator("#preview-archive-count")).toHaveText("10");
    await expect(page.locator("#preview-archived")).toHaveText("0");
  };
  await open();
  // Signed in: "Started by" is the user, shown, not asked.
  await expect(dialog.locator("#replay-by")).toHaveCount(0);
  await expect(dialog.locator("#replay-actor")).toHaveText("olga");
  // The reason is required: the error names it.
  await page.locator("#replay-confirm").click();
  await expect(dialog.locator("#replay-reason-error")).toContainText("reason is required");
  await page.locator("#replay-reason").fill("member vouchers held by the vendor's outage");
  await page.locator("#replay-confirm").click();

  // Live: running, its cursor (event time replayed up to) beside the counters.
  const progress = dialog.locator(".live-replay .replay-progress");
  await expect(progress).toHaveAttribute("data-state", /STARTING|RUNNING/);
  const cursor = dialog.locator("#replay-cursor");
  await expect(cursor).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC([+-]\d\d:\d\d)?$/);
  const first = await cursor.textContent();
  await expect(cursor).not.toHaveText(first ?? "");
  await page.screenshot({ path: "test-results/artifacts/replay-dialog-cursor.png", fullPage: true });
  await dialog.locator("#replay-dialog-cancel").click();
  await expect(progress).toHaveAttribute("data-state", "CANCELLED");
  await expect(dialog.locator("#replay-dialog-cancel")).toHaveCount(0);
  const name = await progress.getAttribute("data-replay");

  // Again, cancelled from the part's card this time.
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  await open();
  await page.locator("#replay-reason").fill("once more");
  await page.locator("#replay-confirm").click();
  await expect(progress).toHaveAttribute("data-state", /STARTING|RUNNING/);
  const second = await progress.getAttribute("data-replay");
  expect(second).not.toBe(name);
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  const latest = card.locator(`.latest-replay .replay-progress[data-replay="${second}"]`);
  await expect(latest).toHaveAttribute("data-state", /STARTING|RUNNING/);
  await card.getByRole("button", { name: "Cancel replay" }).click();
  await expect(latest).toHaveAttribute("data-state", "CANCELLED");
  await expect(card.getByRole("button", { name: "Cancel replay" })).toHaveCount(0);

  const log = await auditLog(page);
  const started = log.find((e) => e.action === "replay.start" && e.outcome === "ok" && e.reason?.startsWith("member vouchers"));
  expect(started).toMatchObject({ actor: "olga", target: "member" });
  for (const replay of [name, second]) {
    expect(log.some((e) => e.action === "replay.cancel" && e.outcome === "ok" && e.target === replay)).toBeTruthy();
  }
});
