import { test, expect, Page, ConsoleMessage } from "@playwright/test";
import * as http from "node:http";

// Two host pages ("internal portals") on two loopback origins. The server is
// started with --frame-ancestors naming only the first (playwright.config.ts).
const okPort = Number(process.env.E2E_FRAME_OK_PORT);
const badPort = Number(process.env.E2E_FRAME_BAD_PORT);

function hostPage(base: string, embed: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Portal</title></head>
<body><h1>Portal</h1><iframe id="widget" title="Vendor status" src="${base}${embed}" width="640" height="360"></iframe></body></html>`;
}

function serve(port: number, body: string): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(body);
    });
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

const hosts: http.Server[] = [];

test.beforeAll(async ({ baseURL }) => {
  const embed = "/embed/status?theme=light&bg=transparent";
  hosts.push(await serve(okPort, hostPage(baseURL!, embed)));
  hosts.push(await serve(badPort, hostPage(baseURL!, embed)));
});

test.afterAll(async () => {
  await Promise.all(hosts.map((h) => new Promise((r) => h.close(r))));
});

/** The widget's frame once it has committed a navigation. */
async function widget(page: Page) {
  const handle = await page.locator("#widget").elementHandle();
  const frame = await handle!.contentFrame();
  expect(frame).not.toBeNull();
  return frame!;
}

test("an embed loads in an iframe from an allowed origin", async ({ page }) => {
  await page.goto(`http://127.0.0.1:${okPort}/`);
  const frame = await widget(page);
  await expect(frame.getByRole("heading", { level: 1 })).toHaveText(/Vendor status/);
  await expect(frame.locator("li.part")).toHaveCount(3);
  // Status in words next to the icon, never colour alone.
  await expect(frame.locator("li.part .state").first()).toHaveText(/Up|Down|Pending|Unknown/);
  await expect(frame.locator("html")).toHaveAttribute("data-theme", "light");
  await page.screenshot({ path: "test-results/artifacts/embed-allowed.png", fullPage: true });
});

test("an embed is refused in an iframe from another origin", async ({ page }) => {
  const refusals: string[] = [];
  page.on("console", (m: ConsoleMessage) => {
    if (/frame-ancestors/.test(m.text())) refusals.push(m.text());
  });
  const embedResponse = page.waitForResponse((r) => r.url().includes("/embed/status"));
  await page.goto(`http://127.0.0.1:${badPort}/`);
  // The server answered, but the browser refuses to show it here.
  const res = await embedResponse;
  expect(res.status()).toBe(200);
  expect(res.headers()["content-security-policy"]).toMatch(
    new RegExp(`; frame-ancestors 'self' http://127\\.0\\.0\\.1:${okPort}$`),
  );
  await expect.poll(() => refusals.length, { timeout: 5_000 }).toBeGreaterThan(0);
  const frame = await widget(page);
  expect(frame.url()).not.toContain("/embed/status");
  expect(await frame.locator("li.part").count()).toBe(0);
  await page.screenshot({ path: "test-results/artifacts/embed-refused.png", fullPage: true });
});

test("the console itself cannot be framed by another origin", async ({ page, baseURL }) => {
  const res = await page.request.get(`${baseURL}/`);
  expect(res.headers()["content-security-policy"]).toMatch(/frame-ancestors 'none'$/);
  expect(res.headers()["x-frame-options"]).toBe("DENY");
});

const BADGES = [
  "/badge/overall.svg",
  ...["voucher", "member", "points"].flatMap((p) => [
    `/badge/${p}/status.svg`,
    `/badge/${p}/uptime/24h.svg`,
    `/badge/${p}/uptime/7d.svg`,
    `/badge/${p}/uptime/30d.svg`,
    `/badge/${p}/uptime/90d.svg`,
    `/badge/${p}/circuit.svg`,
    `/badge/${p}/backlog.svg`,
  ]),
];

test("every badge URL returns valid SVG that renders", async ({ page, baseURL }) => {
  await page.goto(`http://127.0.0.1:${okPort}/`);
  for (const path of BADGES) {
    const res = await page.request.get(`${baseURL}${path}`);
    expect(res.status(), path).toBe(200);
    expect(res.headers()["content-type"], path).toMatch(/^image\/svg\+xml/);
    const text = await res.text();
    const parsed = await page.evaluate((svg) => {
      const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
      return {
        error: doc.querySelector("parsererror")?.textContent ?? null,
        root: doc.documentElement.nodeName,
        title: doc.querySelector("title")?.textContent ?? "",
      };
    }, text);
    expect(parsed.error, path).toBeNull();
    expect(parsed.root, path).toBe("svg");
    expect(parsed.title, path).toMatch(/: \S/);
    // The shields JSON says what the SVG says. Uptime and backlog move while
    // other tests' outages age, so compare a JSON/SVG pair fetched together,
    // retrying a pair that straddled a change.
    await expect
      .poll(
        async () => {
          const [svg, json] = await Promise.all([
            page.request.get(`${baseURL}${path}`).then((r) => r.text()),
            page.request.get(`${baseURL}${path.replace(/\.svg$/, ".json")}`),
          ]);
          expect(json.status(), path).toBe(200);
          const shield = await json.json();
          expect(shield.schemaVersion).toBe(1);
          const title = /<title>([^<]*)<\/title>/.exec(svg)?.[1] ?? "";
          return title.endsWith(shield.message);
        },
        { message: `${path}: SVG and shields JSON agree`, timeout: 5_000 },
      )
      .toBe(true);
  }
  // The browser draws them as images from another origin (no publish step).
  await page.setContent(
    `<body style="background:#fff">${BADGES.map((b) => `<p><img alt="${b}" src="${baseURL}${b}"></p>`).join("")}</body>`,
  );
  const widths = await page.$$eval("img", async (imgs) => {
    await Promise.all(imgs.map((i) => (i as HTMLImageElement).decode().catch(() => undefined)));
    return imgs.map((i) => (i as HTMLImageElement).naturalWidth);
  });
  expect(widths.every((w) => w > 40)).toBe(true);
  await page.screenshot({ path: "test-results/artifacts/badges.png", fullPage: true });
  const missing = await page.request.get(`${baseURL}/badge/nope/status.svg`);
  expect(missing.status()).toBe(404);
  expect(await missing.text()).toContain("not found");
});

test("a part's embed follows its status live, in words, at 375 px and in dark", async ({ page, request }) => {
  const sim = `http://127.0.0.1:${process.env.E2E_SIM_PORT}`;
  await request.post(`${sim}/sim/parts/member/up`);
  await page.setViewportSize({ width: 375, height: 640 });
  await page.goto("/embed/parts/member?theme=dark");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("member status");
  await expect(page.locator("html")).toHaveAttribute("data-theme", "dark");
  await expect(page.locator(".bars span")).toHaveCount(90);
  await expect(page.locator("li.part .state")).toHaveText(/Up/);
  const loads: string[] = [];
  page.on("framenavigated", (f) => {
    if (f === page.mainFrame()) loads.push(f.url());
  });
  try {
    expect((await request.post(`${sim}/sim/parts/member/down`)).ok()).toBeTruthy();
    // Pushed by the event stream: no reload.
    await expect(page.locator("li.part .state")).toHaveText(/Down/, { timeout: 10_000 });
    await expect(page.locator("li.part")).toHaveClass(/down/);
    expect(loads).toEqual([]);
    await page.screenshot({ path: "test-results/artifacts/embed-part-dark-375.png", fullPage: true });
  } finally {
    await request.post(`${sim}/sim/parts/member/up`);
  }
  await expect(page.locator("li.part .state")).toHaveText(/Up/, { timeout: 10_000 });
});
