import { test, expect } from "@playwright/test";
import * as http from "node:http";

/** Requests the webhook receiver got: the headers the mediator signs. */
const got: { id: string; signature: string; body: string }[] = [];
let server: http.Server;

test.beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      got.push({
        id: String(req.headers["webhook-id"] ?? ""),
        signature: String(req.headers["webhook-signature"] ?? ""),
        body,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(Number(process.env.E2E_HOOK_PORT), "127.0.0.1", ok));
});

test.afterAll(async () => {
  await new Promise((ok) => server.close(ok));
});

test("send test queues a signed webhook and the delivery log shows it delivered", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/notifications");
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  await expect(html).toHaveAttribute("data-interactive", "/notifications", { timeout: 30_000 });

  const row = page.locator('#channels tr[data-channel="e2e-hook"]');
  await expect(row).toContainText("webhook");
  await expect(row).toContainText("part_down, part_up");
  await row.getByRole("button", { name: "Send test" }).click();
  const sent = page.locator("#test-sent");
  await expect(sent).toContainText("Test queued for e2e-hook");
  const event = ((await sent.textContent()) ?? "").match(/event (test-[^)]+)\)/)?.[1];
  expect(event).toBeTruthy();

  // The receiver gets it under its event id, signed (v1,<base64>).
  await expect.poll(() => got.find((g) => g.id === event)?.signature ?? "").toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
  const body = JSON.parse(got.find((g) => g.id === event)!.body);
  expect(body.type).toBe("mediator.test");

  // The log shows it delivered after a refresh (one attempt).
  const delivery = page.locator(`#deliveries tr[data-event="${event}"]`);
  await expect
    .poll(async () => {
      await page.locator("#refresh-deliveries").click();
      return delivery.getAttribute("data-status", { timeout: 1_000 }).catch(() => null);
    }, { timeout: 15_000 })
    .toBe("delivered");
  await expect(delivery).toContainText("e2e-hook");
  await expect(delivery).toContainText("test");
  await page.screenshot({ path: "test-results/artifacts/notifications.png", fullPage: true });
  expect(errors).toEqual([]);
});
