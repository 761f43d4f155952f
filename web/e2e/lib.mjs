// Shared pieces of the end-to-end scenarios: the browser (Debian's Chromium, never a download),
// the environment, the gateway's REST API for setting up and checking, screenshots.
//
// Environment:
//   INBOX_WEB_URL          where the app is served (the gateway once it serves web/dist, or
//                          `vite preview` with its /v1 proxy); unset, run.mjs serves dist/ itself
//   INBOX_GATEWAY_URL      the gateway, for setup calls (default: INBOX_WEB_URL)
//   INBOX_AGENT_TOKEN      an agent's (admin's) JWT, used through #access_token= ...
//   INBOX_AGENT_EMAIL / INBOX_AGENT_PASSWORD   ... or a password sign-in (gateway access issue)
//   INBOX_TEAMMATE_TOKEN   a second person, role agent (assignment and notification scenarios)
//   INBOX_SUPERVISOR_TOKEN a supervisor (metrics dashboard scenario)
//   INBOX_AI_TOKEN         the AI account (take-over scenario)
//   INBOX_INGEST_URL, INBOX_WHATSAPP_APP_SECRET, INBOX_WHATSAPP_PHONE_NUMBER_ID   signed WhatsApp webhooks
//   INBOX_SCREENSHOTS      directory for the screenshots (default web/e2e-artifacts)
//   CHROMIUM_PATH          default /usr/bin/chromium

import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = '1';
const { chromium } = await import('playwright-core');

export const env = {
  get web() {
    return process.env.INBOX_WEB_URL ?? 'http://127.0.0.1:4173';
  },
  get gateway() {
    return process.env.INBOX_GATEWAY_URL ?? this.web;
  },
  token: process.env.INBOX_AGENT_TOKEN ?? '',
  email: process.env.INBOX_AGENT_EMAIL ?? '',
  password: process.env.INBOX_AGENT_PASSWORD ?? '',
  teammateToken: process.env.INBOX_TEAMMATE_TOKEN ?? '',
  supervisorToken: process.env.INBOX_SUPERVISOR_TOKEN ?? '',
  aiToken: process.env.INBOX_AI_TOKEN ?? '',
  ingest: process.env.INBOX_INGEST_URL ?? 'http://127.0.0.1:8081',
  appSecret: process.env.INBOX_WHATSAPP_APP_SECRET ?? '',
  phoneNumberId: process.env.INBOX_WHATSAPP_PHONE_NUMBER_ID ?? '100000000000001',
  shots: process.env.INBOX_SCREENSHOTS ?? new URL('../e2e-artifacts/', import.meta.url).pathname,
  chromium: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
};

export const DESKTOP = { width: 1440, height: 900 };
export const PHONE = { width: 375, height: 812 };

export async function launch() {
  return chromium.launch({
    executablePath: env.chromium,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page signed in as the agent: password sign-in when given, else the token in the fragment. */
export async function openInbox(browser, { viewport = DESKTOP, token = env.token, search = '', acceptDownloads = true, bypassCSP = false } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads, deviceScaleFactor: 1, bypassCSP });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  if (env.email && env.password && token === env.token) {
    await page.goto(`${env.web}/${search}`);
    await page.getByLabel('Email').fill(env.email);
    await page.getByLabel('Password').fill(env.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  } else {
    if (!token) throw new Error('set INBOX_AGENT_TOKEN (or INBOX_AGENT_EMAIL and INBOX_AGENT_PASSWORD)');
    await page.goto(`${env.web}/${search}#access_token=${token}`);
  }
  await page.locator('[data-region="list"]:visible, [data-region="conversation"]:visible').first().waitFor();
  return { context, page };
}

let shotCount = 0;
export async function shot(page, scenario, name) {
  const dir = join(env.shots, scenario);
  mkdirSync(dir, { recursive: true });
  shotCount += 1;
  const file = join(dir, `${String(shotCount).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file });
  console.log(`  screenshot ${file}`);
  return file;
}

export async function api(method, path, { token = env.token, body } = {}) {
  const response = await fetch(`${env.gateway}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A signed Cloud API text webhook, as Meta sends it (docs/whatsapp.md). */
export async function sendWhatsApp({ from, name, text, wamid = `wamid.e2e.${randomUUID()}`, at = Date.now() }) {
  if (!env.appSecret) throw new Error('set INBOX_WHATSAPP_APP_SECRET');
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: '15550000001', phone_number_id: env.phoneNumberId },
              contacts: [{ profile: { name }, wa_id: from }],
              messages: [{ from, id: wamid, timestamp: String(Math.floor(at / 1000)), type: 'text', text: { body: text } }],
            },
          },
        ],
      },
    ],
  });
  const signature = 'sha256=' + createHmac('sha256', env.appSecret).update(body).digest('hex');
  const response = await fetch(`${env.ingest}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature },
    body,
  });
  if (!response.ok) throw new Error(`webhook: ${response.status} ${await response.text()}`);
  return wamid;
}

export function jwtSubject(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
}

export function randomPhone() {
  return `5511${Math.floor(100000000 + Math.random() * 899999999)}`;
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Runs named scenarios, each in its own browser context, and reports N passed, N failed. */
export async function runScenarios(scenarios, only) {
  const browser = await launch();
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of Object.entries(scenarios)) {
    if (only.length && !only.includes(name)) continue;
    const started = Date.now();
    console.log(`scenario ${name}`);
    try {
      await fn(browser);
      passed += 1;
      console.log(`  ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed += 1;
      console.error(`  FAILED: ${e.stack ?? e}`);
    }
  }
  await browser.close();
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0;
}
