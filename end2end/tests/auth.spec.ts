import { test, expect, Page } from "@playwright/test";

// The second server of playwright.config.ts: sign-in on (--auth local), with
// the operator `olga` and the viewer `vic` added by `mediator user add`.
const auth = `http://127.0.0.1:${process.env.E2E_AUTH_PORT}`;

test.skip(!!process.env.BASE_URL, "needs the --auth local server started by this config");

async function hydrated(page: Page) {
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
}

async function signIn(page: Page, user: string, password: string, path = "/") {
  await page.goto(`${auth}${path}`);
  // Not signed in: every page sends the browser to the sign-in form.
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("an operator signs in, sees who is signed in, and signs out", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${auth}/login`);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Sign in");
  await page.getByLabel("User name").fill("olga");
  await page.getByLabel("Password").fill("not-her-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator("#login-error")).toHaveText("Wrong user name or password.");
  await page.screenshot({ path: "test-results/artifacts/login-failed.png", fullPage: true });

  await signIn(page, "olga", "operator-pass", "/replays");
  await expect(page).toHaveURL(`${auth}/replays`);
  await hydrated(page);
  await expect(page.locator("#signed-in-user")).toHaveText("olga (operator)");
  const cookies = await page.context().cookies(auth);
  const session = cookies.find((c) => c.name === "mediator_session");
  expect(session?.httpOnly).toBe(true);
  expect(session?.sameSite).toBe("Lax");
  // At 1280 px the links, the user and the theme toggle share one row.
  const brand = (await page.locator(".brand").boundingBox())!;
  const toggle = (await page.locator("#theme-toggle").boundingBox())!;
  expect(toggle.y).toBeLessThan(brand.y + brand.height);
  await expect(page.locator("#theme-toggle")).toHaveAccessibleName(/Theme: /);
  await page.screenshot({ path: "test-results/artifacts/signed-in-operator.png", fullPage: true });

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(`${auth}/login`);
  await page.goto(`${auth}/`);
  await expect(page).toHaveURL(/\/login\?next=%2F|\/login\?next=\//);
  expect(errors).toEqual([]);
});

test("a viewer is refused a replay, and the refusal is in the audit log", async ({ page, browser }) => {
  await signIn(page, "vic", "viewer-pass");
  await expect(page).toHaveURL(`${auth}/`);
  await hydrated(page);
  await expect(page.locator("#signed-in-user")).toHaveText("vic (viewer)");
  // A viewer sees everything…
  await expect(page.locator("article.card")).toHaveCount(3);
  const card = page.locator('article.card[data-part="voucher"]');
  await card.getByRole("button", { name: /Replay a window/ }).click();
  const dialog = page.locator("#replay-dialog");
  await expect(dialog).toBeVisible();
  // …including the preview (a read)…
  await expect(page.locator("#preview-archived")).toHaveText(/^\d+$/);
  // Signed in, nobody types who starts it: the dialog shows the user.
  await expect(page.locator("#replay-by")).toHaveCount(0);
  await expect(page.locator("#replay-actor")).toHaveText("vic");
  await page.locator("#replay-reason").fill("just looking");
  await page.locator("#replay-confirm").click();
  // …but changes nothing: the launch is refused, naming the role needed.
  const refusal = dialog.locator(".error-text[role=alert]");
  await expect(refusal).toContainText("requires the operator role (vic is viewer)");
  await page.screenshot({ path: "test-results/artifacts/viewer-replay-refused.png", fullPage: true });
  expect((await page.request.get(`${auth}/api/v1/replays`)).status()).toBe(200);
  expect((await page.request.post(`${auth}/api/v1/replays`, { data: { part: "voucher" } })).status()).toBe(403);

  // The audit page is for operators and admins.
  await page.goto(`${auth}/audit`);
  await expect(page.locator("#audit-error")).toContainText("requires the operator role");

  const operator = await browser.newPage();
  await signIn(operator, "olga", "operator-pass", "/audit");
  await expect(operator).toHaveURL(`${auth}/audit`);
  const denied = operator.locator('#audit tr[data-action="replay.start"][data-outcome="denied"]').first();
  await expect(denied).toContainText("vic (viewer, session)");
  await expect(operator.locator('#audit tr[data-action="login"]').first()).toBeVisible();
  await operator.screenshot({ path: "test-results/artifacts/audit-log.png", fullPage: true });
  await operator.close();
});
