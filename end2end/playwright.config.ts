import { defineConfig } from "@playwright/test";
import * as path from "node:path";
import * as os from "node:os";
import * as fs from "node:fs";

// The server under test is the built `mediator` binary, started on a random
// port below the ephemeral range (32768+, where outgoing connections could
// hold it) with its simulator and the embed hosts on the next three ports,
// and a private data directory. Set BASE_URL to test a server that is
// already running instead.
const root = path.resolve(__dirname, "..");
const port = process.env.E2E_PORT ?? String(20000 + Math.floor(Math.random() * 12000));
process.env.E2E_PORT = port; // workers inherit the same port
const simPort = process.env.E2E_SIM_PORT ?? String(Number(port) + 1);
process.env.E2E_SIM_PORT = simPort;
// Two loopback origins for the embed test's host pages; only the first may
// frame the embeds (--frame-ancestors).
const frameOkPort = process.env.E2E_FRAME_OK_PORT ?? String(Number(port) + 2);
process.env.E2E_FRAME_OK_PORT = frameOkPort;
process.env.E2E_FRAME_BAD_PORT = process.env.E2E_FRAME_BAD_PORT ?? String(Number(port) + 3);
// A second server with sign-in on (--auth local) for auth.spec.ts and
// controls.spec.ts, with an operator and a viewer created by `mediator user
// add` before it starts. Its replays are paced (one archived event each
// 1.5 s) so a running replay can be watched and cancelled, and its
// EventBridge API listens on a known port, where controls.spec.ts archives
// events.
const authPort = process.env.E2E_AUTH_PORT ?? String(Number(port) + 4);
process.env.E2E_AUTH_PORT = authPort;
const authEventsPort = process.env.E2E_AUTH_EVENTS_PORT ?? String(Number(authPort) + 2);
process.env.E2E_AUTH_EVENTS_PORT = authEventsPort;
const authDataDir = process.env.E2E_AUTH_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "mediator-e2e-auth-"));
process.env.E2E_AUTH_DATA_DIR = authDataDir;
const external = process.env.BASE_URL;
const baseURL = external ?? `http://127.0.0.1:${port}`;
const bin = process.env.MEDIATOR_BIN ?? path.join(root, "target", "debug", "mediator");
const siteRoot = process.env.LEPTOS_SITE_ROOT ?? path.join(root, "target", "site");
// E2E_EMBEDDED_SITE=1: the binary serves the site built into it (make e2e,
// or a release binary from make dist) instead of the files in siteRoot.
const siteArg = process.env.E2E_EMBEDDED_SITE ? "" : ` --site-root "${siteRoot}"`;
const dataDir = process.env.E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "mediator-e2e-"));
process.env.E2E_DATA_DIR = dataDir;
// A receiver for notifications.spec.ts (started by the spec): the console's
// server sends its webhook channel there (port + 4 to + 6 are the sign-in
// server's).
const hookPort = process.env.E2E_HOOK_PORT ?? String(Number(port) + 7);
process.env.E2E_HOOK_PORT = hookPort;
// An SMTP sink for notifications.spec.ts (started by the spec, STARTTLS with
// the test certificate the email channel's ca_file trusts).
const smtpPort = process.env.E2E_SMTP_PORT ?? String(Number(port) + 8);
process.env.E2E_SMTP_PORT = smtpPort;
const smtpCert = path.join(__dirname, "..", "server", "tests", "it", "smtp", "sink-cert.pem");
const configFile = path.join(dataDir, "..", path.basename(dataDir) + ".toml");
fs.writeFileSync(
  configFile,
  [
    "[notify]",
    "retry_base = 0.5",
    "retry_max = 2",
    "poll_interval = 0.2",
    "[notify.channels.e2e-hook]",
    'type = "webhook"',
    `url = "http://127.0.0.1:${hookPort}/hook"`,
    'secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"',
    'kinds = ["part_down", "part_up"]',
    "[notify.channels.e2e-mail]",
    'type = "email"',
    'host = "127.0.0.1"',
    `port = ${smtpPort}`,
    'from = "Vendor Mediator <mediator@example.com>"',
    'to = ["ops@example.com"]',
    `ca_file = ${JSON.stringify(smtpCert)}`,
    'kinds = ["part_down", "part_up"]',
    "",
  ].join("\n"),
);

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [{ name: "chromium" }],
  webServer: external
    ? undefined
    : [
        {
          // Sign-in is not what console.spec.ts and embeds.spec.ts test: off here.
          // One failed SaaS call dead-letters a voucher (dlq.spec.ts).
          command: `"${bin}" serve --auth none --listen 127.0.0.1:${port} --events-listen 127.0.0.1:0 --sim-listen 127.0.0.1:${simPort} --poll-interval 0.2 --max-attempts 1 --data-dir "${dataDir}" --config "${configFile}"${siteArg} --frame-ancestors http://127.0.0.1:${frameOkPort}`,
          url: `${baseURL}/readyz`,
          timeout: 60_000,
          reuseExistingServer: false,
          stdout: "pipe",
          stderr: "pipe",
        },
        {
          command:
            `printf '%s\\n' operator-pass | "${bin}" user add olga --role operator --data-dir "${authDataDir}" && ` +
            `printf '%s\\n' viewer-pass | "${bin}" user add vic --role viewer --data-dir "${authDataDir}" && ` +
            `MEDIATOR_EVENTS_REPLAY_CHUNK=1 MEDIATOR_EVENTS_REPLAY_DELAY_MS=1500 ` +
            `"${bin}" serve --auth local --listen 127.0.0.1:${authPort} --events-listen 127.0.0.1:${authEventsPort} --sim-listen 127.0.0.1:${Number(authPort) + 1} --poll-interval 0.2 --data-dir "${authDataDir}"${siteArg}`,
          url: `http://127.0.0.1:${authPort}/readyz`,
          timeout: 60_000,
          reuseExistingServer: false,
          stdout: "pipe",
          stderr: "pipe",
        },
      ],
});
