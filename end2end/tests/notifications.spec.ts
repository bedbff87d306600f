import { test, expect } from "@playwright/test";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import * as fs from "node:fs";
import * as path from "node:path";

/** Requests the webhook receiver got: the headers the mediator signs. */
const got: { id: string; signature: string; body: string }[] = [];
let server: http.Server;

/** Mails the SMTP sink accepted, and how many DATA it should still refuse. */
const mails: { from: string; to: string[]; data: string; tls: boolean }[] = [];
let refuseData = 0;
let smtp: net.Server;
const fixtures = path.join(__dirname, "..", "..", "server", "tests", "it", "smtp");

/** One SMTP session: EHLO, STARTTLS (the test certificate), MAIL, RCPT, DATA, QUIT. */
function smtpSession(socket: net.Socket | tls.TLSSocket, secure: boolean) {
  let buffer = "";
  let from = "";
  let to: string[] = [];
  let data: string | null = null;
  const say = (line: string) => socket.write(line + "\r\n");
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    let i: number;
    while ((i = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      if (data !== null) {
        if (line === ".") {
          if (refuseData > 0) {
            refuseData -= 1;
            say("451 4.3.0 mailbox busy, try later");
          } else {
            mails.push({ from, to, data, tls: secure });
            say("250 2.0.0 queued");
          }
          data = null;
        } else {
          data += (line.startsWith(".") ? line.slice(1) : line) + "\r\n";
        }
        continue;
      }
      const cmd = line.toUpperCase();
      if (cmd.startsWith("EHLO") || cmd.startsWith("HELO")) {
        say(secure ? "250-sink\r\n250 8BITMIME" : "250-sink\r\n250-8BITMIME\r\n250 STARTTLS");
      } else if (cmd === "STARTTLS" && !secure) {
        socket.removeListener("data", onData);
        say("220 2.0.0 ready for TLS");
        const upgraded = new tls.TLSSocket(socket, {
          isServer: true,
          key: fs.readFileSync(path.join(fixtures, "sink-key.pem")),
          cert: fs.readFileSync(path.join(fixtures, "sink-cert.pem")),
        });
        upgraded.on("error", () => {});
        smtpSession(upgraded, true);
        return;
      } else if (cmd.startsWith("MAIL FROM:")) {
        from = line.slice(10).trim();
        to = [];
        say("250 2.1.0 ok");
      } else if (cmd.startsWith("RCPT TO:")) {
        to.push(line.slice(8).trim());
        say("250 2.1.5 ok");
      } else if (cmd === "DATA") {
        data = "";
        say("354 end with .");
      } else if (cmd === "QUIT") {
        say("221 2.0.0 bye");
        socket.end();
      } else if (cmd === "RSET" || cmd === "NOOP") {
        say("250 2.0.0 ok");
      } else {
        say("502 5.5.2 not implemented");
      }
    }
  };
  socket.on("data", onData);
  socket.on("error", () => {});
}

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
  smtp = net.createServer((socket) => {
    socket.write("220 sink ESMTP ready\r\n");
    smtpSession(socket, false);
  });
  await new Promise<void>((ok) => smtp.listen(Number(process.env.E2E_SMTP_PORT), "127.0.0.1", ok));
});

test.afterAll(async () => {
  await new Promise((ok) => server.close(ok));
  await new Promise((ok) => smtp.close(ok));
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

test("send test mails the email channel over STARTTLS, and the log follows it live", async ({ page, request }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/notifications");
  const html = page.locator("html");
  await expect(html).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
  await expect(html).toHaveAttribute("data-interactive", "/notifications", { timeout: 30_000 });
  await expect(html).toHaveAttribute("data-live", "sse", { timeout: 10_000 });

  const row = page.locator('#channels tr[data-channel="e2e-mail"]');
  await expect(row).toContainText("email");
  // The sink refuses the first attempt: the log shows it pending, then
  // delivered, without a reload or a click on Refresh.
  refuseData = 1;
  const res = await request.post("/api/v1/notifications/e2e-mail/test");
  expect(res.status()).toBe(202);
  const event = (await res.json()).event_id as string;
  const delivery = page.locator(`#deliveries tr[data-event="${event}"]`);
  await expect(delivery).toBeVisible({ timeout: 10_000 });
  await expect(delivery).toContainText("e2e-mail");
  await expect(delivery).toContainText("451");
  await expect(delivery).toHaveAttribute("data-status", "delivered", { timeout: 15_000 });
  await expect(delivery.locator("td.num")).toHaveText("2");

  const mail = mails.find((m) => m.data.includes(event));
  expect(mail).toBeTruthy();
  expect(mail!.tls).toBe(true);
  expect(mail!.to).toEqual(["<ops@example.com>"]);
  expect(mail!.data).toMatch(/Subject: \[Vendor Mediator\] test: Test notification/);
  expect(mail!.data).toContain("e2e-mail");
  await page.screenshot({ path: "test-results/artifacts/notifications-live.png", fullPage: true });
  expect(errors).toEqual([]);
});
