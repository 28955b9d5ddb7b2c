// Drives Debian's firefox-esr over WebDriver BiDi (puppeteer-core, no browser download)
// for tests/browser/firefox.py: one JSON command per stdin line, one JSON reply per stdout
// line ({"id", "ok", "value"} or {"id", "ok": false, "error"}); console lines and page
// errors go to stderr, which the test keeps for its failure message.
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const executablePath = process.env.GROUPSESSION_FIREFOX ?? "/usr/bin/firefox-esr";

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath,
  headless: true,
  extraPrefsFirefox: {
    // Fake camera (a test pattern) and microphone (a tone), allowed without a prompt.
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    // Several pages share the browser: none may be throttled as hidden.
    "dom.min_background_timeout_value": 0,
  },
});

const pages = new Map();
let nextPage = 1;

async function run(command) {
  switch (command.op) {
    case "open": {
      const context = await browser.createBrowserContext();
      const page = await context.newPage();
      const id = nextPage++;
      page.on("console", (m) => process.stderr.write(`[firefox ${id}] ${m.type()}: ${m.text()}\n`));
      page.on("pageerror", (e) => process.stderr.write(`[firefox ${id}] pageerror: ${e}\n`));
      for (const script of command.init_scripts ?? []) await page.evaluateOnNewDocument(script);
      pages.set(id, { page, context });
      await page.goto(command.url);
      return id;
    }
    case "evaluate":
      return await pages.get(command.page).page.evaluate(command.expression);
    case "wait": {
      const { page } = pages.get(command.page);
      await page.waitForFunction(command.expression, { timeout: command.timeout_ms, polling: 250 });
      return true;
    }
    case "close_page": {
      const entry = pages.get(command.page);
      pages.delete(command.page);
      await entry?.context.close();
      return true;
    }
    case "version":
      return await browser.version();
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

process.stdout.write(JSON.stringify({ ready: true }) + "\n");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  let reply;
  try {
    reply = { id: command.id, ok: true, value: (await run(command)) ?? null };
  } catch (error) {
    reply = { id: command.id, ok: false, error: String(error?.stack ?? error) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
await browser.close();
