import { test, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";

// axe over every console page and embed, light and dark: no serious or
// critical violation (WCAG 2.1 A and AA rules).

const PAGES = [
  "/",
  "/timeline",
  "/incidents",
  "/replays",
  "/vouchers",
  "/vouchers?part=voucher&status=submitted",
  "/archives",
  "/embeds",
  "/notifications",
  "/audit",
  "/no-such-page",
  "/embed/status",
  "/embed/parts/voucher",
];

async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    // The embeds page shows the embeds in iframes; each embed is checked
    // on its own below.
    .exclude("iframe")
    .analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join(", ")}`);
}

for (const theme of ["light", "dark"]) {
  for (const path of PAGES) {
    test(`${path} has no serious accessibility violation (${theme})`, async ({ page }) => {
      await page.emulateMedia({ colorScheme: theme as "light" | "dark" });
      await page.goto(path);
      if (!path.startsWith("/embed/")) {
        await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true", { timeout: 30_000 });
        // The <title> was once found missing for a moment just after
        // hydration (the page's title being put in place): check the page
        // once its title is there (which must happen within 5 s).
        await expect(page).toHaveTitle(/Vendor Mediator/);
      }
      expect(await violations(page)).toEqual([]);
    });
  }
}

test("the sign-in page has no serious accessibility violation", async ({ page }) => {
  await page.goto(`http://127.0.0.1:${process.env.E2E_AUTH_PORT}/login`);
  expect(await violations(page)).toEqual([]);
});
