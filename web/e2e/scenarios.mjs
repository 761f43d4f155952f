// The issue's "Done when" scenarios, against a running fleet (see lib.mjs for the environment).
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { api, check, env, jwtSubject, openInbox, PHONE, randomPhone, sendWhatsApp, shot } from './lib.mjs';

const require = createRequire(import.meta.url);
const MOD = process.platform === 'darwin' ? 'Meta' : 'Control';

async function newWhatsAppConversation(name, text, at = Date.now()) {
  const from = randomPhone();
  await sendWhatsApp({ from, name, text, at });
  for (let i = 0; i < 100; i++) {
    const window = `from=${encodeURIComponent(new Date(at - 120_000).toISOString())}&to=${encodeURIComponent(new Date(at + 120_000).toISOString())}`;
    const page = await api('GET', `/v1/conversations?channel=whatsapp&time=range&${window}&limit=200`);
    const c = page.items.find((x) => x.customer_address === from);
    if (c) return { ...c, from };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`conversation of ${name} not stored`);
}

async function ensureTemplate(name, body) {
  const found = (await api('GET', `/v1/templates?q=${encodeURIComponent(name)}`)).items.find((t) => t.name === name);
  return found ?? api('POST', '/v1/templates', { body: { name, body } });
}

function heading(page, name) {
  return page.locator('[data-region="conversation"]').getByRole('heading', { name });
}

function messagesOf(page) {
  return page.getByRole('list', { name: 'Messages' });
}

function row(page, id) {
  return page.locator(`[data-conversation-id="${id}"]`);
}

function tenantOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).tid;
}

/** Routing refuses an agent at capacity: earlier scenarios may have filled the teammate up. */
async function roomFor(agentId) {
  const agent = (await api('GET', '/v1/agents')).items.find((a) => a.id === agentId);
  check(agent, 'the person is an agent of the tenant');
  if (agent.load >= agent.capacity) {
    await api('PUT', `/v1/admin/tenants/${tenantOf(env.token)}/agents/${agentId}`, { body: { capacity: agent.load + 5 } });
  }
  return agent;
}

async function until(what, f, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await f();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function bell(page) {
  return page.locator('[data-notification-bell]:visible');
}

/**
 * The bell agrees with the server's unread count. Earlier scenarios' events may still be turning
 * into notifications for this agent, so both sides are read again until they meet.
 */
async function bellShowsServerCount(page, token) {
  return until('the bell to show the server\'s unread count', async () => {
    const server = (await api('GET', '/v1/notifications/unread-count', { token })).unread_count;
    const shown = await bell(page).locator('[data-unread-count]').getAttribute('data-unread-count', { timeout: 1000 }).catch(() => null);
    return server >= 1 && String(server) === shown ? server : null;
  });
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const scenarios = {
  /** Signs in, sees a WhatsApp message arrive live in the list and in the open conversation. */
  async 'live-whatsapp'(browser) {
    const { page, context } = await openInbox(browser);
    await shot(page, 'live-whatsapp', 'signed-in');
    const name = `Live ${Date.now() % 100000}`;
    const from = randomPhone();
    await page.mouse.move(1200, 400); // away from the list: nothing holds it
    await sendWhatsApp({ from, name, text: 'Hello, is my parcel on its way?' });
    const newRow = page.getByRole('option', { name: new RegExp(name) });
    await newRow.waitFor({ timeout: 10_000 });
    await shot(page, 'live-whatsapp', 'arrived-in-list');
    await newRow.click();
    await heading(page, name).waitFor();
    // While the agent reads it, the customer writes again: it appears in the conversation.
    const t0 = Date.now();
    await sendWhatsApp({ from, name, text: 'Order 7781, sent last Monday' });
    await messagesOf(page).getByText('Order 7781, sent last Monday').waitFor({ timeout: 10_000 });
    console.log(`  webhook to screen: ${Date.now() - t0} ms`);
    await shot(page, 'live-whatsapp', 'arrived-in-conversation');
    // Webhook → visible latency over several messages (the issue asks for 100 in the closing note).
    const n = Number(process.env.E2E_LATENCY_MESSAGES ?? 20);
    const times = [];
    for (let i = 0; i < n; i++) {
      const text = `latency probe ${i} ${Date.now()}`;
      const start = Date.now();
      await sendWhatsApp({ from, name, text });
      await messagesOf(page).getByText(text, { exact: true }).waitFor({ timeout: 10_000 });
      times.push(Date.now() - start);
    }
    if (n) console.log(`  webhook→screen over ${n}: p50 ${percentile(times, 50)} ms, p99 ${percentile(times, 99)} ms`);
    await context.close();
  },

  /** Replies with a template through "/": search, insert, fill the variables, refuse an unfilled one. */
  async 'template-reply'(browser) {
    await ensureTemplate('greeting', 'Hi {{customer_name}}! Thanks for reaching out to {{company_name}}. How can I help you today?');
    await ensureTemplate('refund_started', 'Hi {{customer_name}}, I started the refund for order {{order_number}}. It takes 3 to 5 days.');
    const settings = await api('GET', '/v1/settings/tenant');
    if (!settings.company_name) await api('PUT', '/v1/settings/tenant', { body: { ...settings, company_name: 'Demo Company' } });
    const c = await newWhatsAppConversation('Template Tess', 'Hi, can you help me?');
    const { page, context } = await openInbox(browser, { search: `?conversation=${c.id}` });
    const box = page.getByRole('textbox', { name: 'Reply to the customer' });
    await box.click();
    await box.pressSequentially('/refund');
    await page.getByRole('option', { name: /refund_started/ }).waitFor();
    await page.keyboard.press('Enter');
    // An unfilled variable is refused.
    await page.keyboard.press(`${MOD}+Enter`);
    await page.getByRole('alert').filter({ hasText: 'Fill in {{order_number}} first.' }).waitFor();
    await shot(page, 'template-reply', 'unfilled-refused');
    await page.getByRole('button', { name: 'Cancel' }).first().click();
    await box.click();
    await box.pressSequentially('/greet');
    await page.getByRole('option', { name: /greeting/ }).waitFor();
    await shot(page, 'template-reply', 'picker');
    await page.keyboard.press('Enter');
    await page.getByText('Template Tess', { exact: false }).first().waitFor();
    await shot(page, 'template-reply', 'variables');
    await page.keyboard.press(`${MOD}+Enter`); // insert
    await check((await box.inputValue()).startsWith('Hi Template Tess! Thanks for reaching out to'), `inserted text: ${await box.inputValue()}`);
    await box.press('Control+End');
    await box.pressSequentially(' (Sarah here)');
    await box.press(`${MOD}+Enter`); // send
    await page.locator('[data-message-id]').filter({ hasText: 'How can I help you today? (Sarah here)' }).last().waitFor({ timeout: 10_000 });
    await shot(page, 'template-reply', 'sent');
    const messages = await api('GET', `/v1/conversations/${c.id}/messages`);
    check(messages.items.some((m) => m.sender_kind === 'agent' && m.content.text?.includes('Thanks for reaching out')), 'the reply is stored');
    await context.close();
  },

  /** The AI asks for help; the agent takes over and can hand it back. */
  async 'take-over'(browser) {
    const c = await newWhatsAppConversation('Handoff Hugo', 'My card was charged twice');
    if (env.aiToken) {
      await api('POST', `/v1/conversations/${c.id}/ai-messages`, {
        token: env.aiToken,
        body: { text: 'Let me check that for you.', confidence: 0.31, idempotency_key: `e2e-ai-${c.id}` },
      });
    }
    const { page, context } = await openInbox(browser, { search: `?conversation=${c.id}` });
    if (env.aiToken) await page.getByText('Needs a person:').waitFor();
    await shot(page, 'take-over', 'ai-handling');
    await page.getByRole('toolbar', { name: 'Conversation actions' }).getByRole('button', { name: 'Take over' }).click();
    await page.getByRole('button', { name: 'Release to AI' }).waitFor();
    await page.getByText('A person is handling it').waitFor();
    await page.locator('[data-message-id]').filter({ hasText: /connect you with/ }).first().waitFor({ timeout: 10_000 });
    await shot(page, 'take-over', 'taken-over');
    const after = await api('GET', `/v1/conversations/${c.id}`);
    check(after.handled_by === 'human' && after.assignee_id === jwtSubject(env.token), 'the agent holds it');
    await context.close();
  },

  /** Assigns to a teammate (with a note), who sees it arrive in My Conversations. */
  async 'assign-teammate'(browser) {
    if (!env.teammateToken) throw new Error('set INBOX_TEAMMATE_TOKEN');
    const teammateId = jwtSubject(env.teammateToken);
    const teammate = (await api('GET', '/v1/agents')).items.find((a) => a.id === teammateId);
    check(teammate, 'the teammate is an agent of the tenant');
    if (teammate.load >= teammate.capacity) {
      // Earlier runs filled the teammate up (routing refuses an agent at capacity): make room.
      const tenant = JSON.parse(Buffer.from(env.token.split('.')[1], 'base64url').toString()).tid;
      await api('PUT', `/v1/admin/tenants/${tenant}/agents/${teammateId}`, { body: { capacity: teammate.load + 5 } });
    }
    const c = await newWhatsAppConversation('Assign Ada', 'I would like to change my delivery address');
    const other = await openInbox(browser, { token: env.teammateToken, search: '?view=mine' });
    await other.page.mouse.move(1200, 500);
    const { page, context } = await openInbox(browser, { search: `?conversation=${c.id}` });
    await heading(page, 'Assign Ada').waitFor();
    await page.locator('[data-region="conversation"] h2').click();
    await page.keyboard.press('a');
    const dialog = page.getByRole('dialog', { name: /Assign|Transfer/ });
    await dialog.waitFor();
    await dialog.getByLabel('Find a teammate or team').fill(teammate.name);
    await dialog.getByRole('radio').first().check();
    await dialog.getByLabel(/Note for the assignee/).fill('Customer wants a new delivery address, order 5520');
    await shot(page, 'assign-teammate', 'dialog');
    await dialog.getByRole('button', { name: 'Assign' }).click();
    await dialog.waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator('[data-region="conversation"] header').getByText(teammate.name).waitFor({ timeout: 10_000 });
    await shot(page, 'assign-teammate', 'assigned');
    await row(other.page, c.id).waitFor({ timeout: 10_000 });
    await shot(other.page, 'assign-teammate', 'teammate-sees-it');
    await other.context.close();
    await context.close();
  },

  /** Status with Ctrl/Cmd+1..4 and priority from the keyboard, from the list to the conversation. */
  async 'keyboard-status-priority'(browser) {
    const c = await newWhatsAppConversation('Keys Kim', 'Where is my invoice?');
    const { page, context } = await openInbox(browser);
    await page.mouse.move(1200, 300);
    const list = page.getByRole('listbox', { name: /conversations/ });
    await row(page, c.id).waitFor();
    await list.focus();
    // Walk the list with ↓ until the cursor is on the new conversation, then open it.
    for (let i = 0; i < 50 && (await page.locator('[data-active="yes"]').getAttribute('data-conversation-id')) !== c.id; i++) {
      await page.keyboard.press('ArrowDown');
    }
    await page.keyboard.press('Enter');
    await heading(page, 'Keys Kim').waitFor();
    await page.keyboard.press(`${MOD}+2`);
    await page.locator('[data-region="conversation"]').getByRole('button', { name: /Status: Pending/ }).waitFor();
    await shot(page, 'keyboard-status-priority', 'pending');
    await page.keyboard.press(`${MOD}+3`);
    await page.locator('[data-region="conversation"]').getByRole('button', { name: /Status: Resolved/ }).waitFor();
    await page.keyboard.press(`${MOD}+1`);
    await page.locator('[data-region="conversation"]').getByRole('button', { name: /Status: Active/ }).waitFor();
    // Priority: focus the indicator, Enter, arrows, a reason, Enter.
    await page.locator('[data-region="conversation"]').getByRole('button', { name: /Priority: .*Change priority/ }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Priority' });
    await dialog.waitFor();
    await dialog.getByRole('radio', { name: 'Urgent' }).focus();
    await page.keyboard.press('Space');
    await dialog.getByLabel('Reason (optional)').focus();
    await page.keyboard.type('VIP customer');
    await shot(page, 'keyboard-status-priority', 'priority-dialog');
    await page.keyboard.press('Enter');
    await page.locator('[data-region="conversation"]').getByRole('button', { name: /Priority: Urgent/ }).waitFor();
    await shot(page, 'keyboard-status-priority', 'urgent');
    const after = await api('GET', `/v1/conversations/${c.id}`);
    check(after.status === 'active' && after.priority === 'urgent' && after.priority_reason.includes('VIP'), JSON.stringify(after));
    // Ctrl/Cmd+] and [ open the next and the previous conversation of the list.
    await page.locator('[data-region="conversation"] h2').click();
    await page.keyboard.press(`${MOD}+]`);
    await page.waitForFunction((id) => !location.search.includes(id), c.id);
    await page.keyboard.press(`${MOD}+[`);
    await page.waitForFunction((id) => location.search.includes(id), c.id);
    // The help sheet lists every shortcut.
    await page.keyboard.press(`${MOD}+/`);
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await shot(page, 'keyboard-status-priority', 'help-sheet');
    await page.keyboard.press('Escape');
    await context.close();
  },

  /** Selects by filter (resolved) and archives: a result for every conversation. */
  async 'bulk-archive'(browser) {
    const made = [];
    for (let i = 0; i < 3; i++) {
      const c = await newWhatsAppConversation(`Bulk ${i} ${Date.now() % 10000}`, `bulk ${i}`);
      await api('POST', `/v1/conversations/${c.id}/status`, { body: { status: 'resolved' } });
      made.push(c.id);
    }
    const { page, context } = await openInbox(browser, { search: '?status=resolved' });
    for (const id of made) await row(page, id).waitFor();
    await shot(page, 'bulk-archive', 'filtered');
    await page.getByRole('checkbox', { name: /Select all/ }).check();
    await page.getByRole('button', { name: 'Select all matching filter' }).click();
    await shot(page, 'bulk-archive', 'selected-by-filter');
    await page.getByRole('toolbar', { name: 'Selection' }).getByRole('button', { name: 'Archive' }).click();
    const result = page.getByRole('dialog', { name: /Archive: result/ });
    await result.waitFor({ timeout: 15_000 });
    await shot(page, 'bulk-archive', 'result');
    const summary = await result.getByRole('status').textContent();
    check(/\d+ changed/.test(summary ?? ''), summary);
    for (const id of made) check((await api('GET', `/v1/conversations/${id}`)).status === 'archived', `${id} archived`);
    await context.close();
  },

  /** Downloads the plain-text transcript with D. */
  async 'download-transcript'(browser) {
    const c = await newWhatsAppConversation('Download Dora', 'Please send me the whole conversation');
    const { page, context } = await openInbox(browser, { search: `?conversation=${c.id}` });
    await heading(page, 'Download Dora').waitFor();
    await page.locator('[data-region="conversation"] h2').click();
    await page.keyboard.press('d');
    const download = page.waitForEvent('download');
    await page.getByRole('menuitem', { name: 'Transcript (text)' }).click();
    const file = await download;
    const path = await file.path();
    const text = readFileSync(path, 'utf8');
    check(text.includes('Please send me the whole conversation'), `transcript: ${text.slice(0, 200)}`);
    console.log(`  downloaded ${file.suggestedFilename()} (${text.length} bytes)`);
    await shot(page, 'download-transcript', 'downloaded');
    await context.close();
  },

  /** 375 × 812: one panel at a time, back control, bottom bar, touch targets. */
  async 'phone-layout'(browser) {
    const c = await newWhatsAppConversation('Phone Pia', 'Writing from my phone');
    const { page, context } = await openInbox(browser, { viewport: PHONE });
    await shot(page, 'phone-layout', 'list');
    const bar = page.getByRole('navigation', { name: 'Views' });
    check(await bar.isVisible(), 'bottom bar visible');
    for (const b of await bar.getByRole('button').all()) {
      const box = await b.boundingBox();
      check(box && box.height >= 44 && box.width >= 44, `bottom bar target ${JSON.stringify(box)}`);
    }
    await row(page, c.id).click();
    await heading(page, 'Phone Pia').waitFor();
    check(!(await page.getByRole('listbox', { name: /conversations/ }).isVisible()), 'the list is hidden while reading');
    const back = page.getByRole('button', { name: 'Back to the list' });
    const box = await back.boundingBox();
    check(box && box.height >= 44 && box.width >= 44, 'back target');
    await shot(page, 'phone-layout', 'conversation');
    await page.getByRole('button', { name: 'Profile' }).click();
    await page.getByRole('complementary', { name: 'Customer' }).waitFor();
    await shot(page, 'phone-layout', 'customer');
    await page.getByRole('button', { name: 'Back to the conversation' }).click();
    await back.click();
    await page.getByRole('listbox', { name: /conversations/ }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    check(!overflow, 'nothing overflows the phone width');
    await context.close();
  },

  /** Offline: the composer queues, the banner counts, and each message goes out once when back. */
  async 'offline-queue'(browser) {
    const c = await newWhatsAppConversation('Offline Olga', 'Are you there?');
    const { page, context } = await openInbox(browser, { search: `?conversation=${c.id}` });
    await heading(page, 'Offline Olga').waitFor();
    await context.setOffline(true);
    const box = page.getByRole('textbox', { name: 'Reply to the customer' });
    for (const text of ['First while offline', 'Second while offline']) {
      await box.fill(text);
      await box.press(`${MOD}+Enter`);
    }
    await page.getByText('You are offline. 2 messages queued').waitFor();
    await shot(page, 'offline-queue', 'queued');
    await context.setOffline(false);
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    for (const text of ['First while offline', 'Second while offline']) {
      await messagesOf(page).locator('[data-message-id]').filter({ hasText: text }).waitFor({ timeout: 15_000 });
    }
    await shot(page, 'offline-queue', 'sent-when-back');
    const sent = (await api('GET', `/v1/conversations/${c.id}/messages`)).items.filter((m) => m.sender_kind === 'agent');
    check(sent.length === 2, `each queued message stored once, got ${sent.length}`);
    await context.close();
  },

  /** A live arrival never moves the row under the pointer: the list holds and says "N new". */
  async 'hold-list'(browser) {
    const { page, context } = await openInbox(browser);
    const list = page.getByRole('listbox', { name: /conversations/ });
    const first = list.getByRole('option').first();
    const before = await first.getAttribute('data-conversation-id');
    const box = await first.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const name = `Held Henry ${Date.now() % 100000}`;
    await sendWhatsApp({ from: randomPhone(), name, text: 'I arrive while you point' });
    await page.getByRole('button', { name: /1 new/ }).waitFor({ timeout: 10_000 });
    check((await list.getByRole('option').first().getAttribute('data-conversation-id')) === before, 'the row under the pointer stayed');
    await shot(page, 'hold-list', 'one-new');
    await page.getByRole('button', { name: /1 new/ }).click();
    await list.getByRole('option', { name: new RegExp(name) }).waitFor();
    await shot(page, 'hold-list', 'released');
    await context.close();
  },

  /** axe-core finds no serious or critical violation on the main screens. */
  async accessibility(browser) {
    const axe = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    const c = await newWhatsAppConversation('Axe Alma', 'Checking accessibility');
    const problems = [];
    for (const [name, viewport, search] of [
      ['desktop', undefined, `?conversation=${c.id}`],
      ['phone-list', PHONE, ''],
      ['phone-conversation', PHONE, `?conversation=${c.id}`],
    ]) {
      // The gateway's Content-Security-Policy forbids inline scripts, axe's included.
      const { page, context } = await openInbox(browser, { viewport, search, bypassCSP: true });
      await page.waitForTimeout(800);
      await page.addScriptTag({ content: axe });
      const result = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
      });
      for (const v of result) console.log(`  ${name}: ${v.impact} ${v.id} — ${v.help} ${JSON.stringify(v.nodes)}`);
      problems.push(...result.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${name}: ${v.id}`));
      await context.close();
    }
    check(!problems.length, `serious accessibility violations: ${problems.join(', ')}`);
  },

  /**
   * 10,000 conversations: time from navigation to the list painted, then a scroll through all of
   * them (pages load as it goes) with the frame times and the number of rows in the DOM.
   * Seed first with `node e2e/seed.mjs 10000`; skipped (and said so) with fewer.
   */
  async 'ten-thousand'(browser) {
    const counts = await api('GET', '/v1/views');
    const total = Object.values(counts.by_channel).reduce((a, b) => a + b, 0);
    if (total < 10_000) {
      console.log(`  skipped: ${total} open conversations (seed with node e2e/seed.mjs 10000)`);
      return;
    }
    const { page, context } = await openInbox(browser, { search: '?view=channel.whatsapp' });
    const painted = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return new Promise((resolve) => {
        const check = () => (document.querySelector('[role="option"]') ? resolve(performance.now() - (nav?.startTime ?? 0)) : requestAnimationFrame(check));
        check();
      });
    });
    console.log(`  navigation to list painted: ${Math.round(painted)} ms`);
    await shot(page, 'ten-thousand', 'top');
    const result = await page.evaluate(async () => {
      const el = document.querySelector('[data-list]');
      const frames = [];
      let maxRows = 0;
      let last = performance.now();
      const started = last;
      // Scroll like a fast flick, 2,000 px per frame, until the last row is loaded and shown.
      for (;;) {
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        frames.push(now - last);
        last = now;
        maxRows = Math.max(maxRows, el.querySelectorAll('[role="option"]').length);
        const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 2;
        const loading = !!el.querySelector('[class*="more"]');
        if (atEnd && !loading) {
          await new Promise((r) => setTimeout(r, 600));
          if (el.scrollTop + el.clientHeight >= el.scrollHeight - 2 && !el.querySelector('[class*="more"]')) break;
        }
        el.scrollTop += 2000;
        if (now - started > 180_000) break;
      }
      const sorted = [...frames].sort((a, b) => a - b);
      return {
        seconds: (performance.now() - started) / 1000,
        frames: frames.length,
        p50: sorted[Math.floor(sorted.length * 0.5)],
        p95: sorted[Math.floor(sorted.length * 0.95)],
        max: sorted[sorted.length - 1],
        maxRows,
        rowsLoaded: Math.round(el.scrollHeight / 78),
      };
    });
    console.log(
      `  scrolled ${result.rowsLoaded} rows in ${result.seconds.toFixed(1)} s: frame p50 ${result.p50.toFixed(1)} ms, p95 ${result.p95.toFixed(1)} ms, max ${result.max.toFixed(0)} ms; at most ${result.maxRows} rows in the DOM`,
    );
    await shot(page, 'ten-thousand', 'bottom');
    check(result.rowsLoaded >= 10_000, `all rows reachable (${result.rowsLoaded})`);
    check(result.maxRows < 80, `virtualised (${result.maxRows} rows in the DOM)`);
    await context.close();
  },

  /** Outside WhatsApp's 24-hour window only a template goes out: the composer says so and sends one. */
  async 'template-only-window'(browser) {
    await ensureTemplate('greeting', 'Hi {{customer_name}}! Thanks for reaching out to {{company_name}}. How can I help you today?');
    const c = await newWhatsAppConversation('Window Wim', 'Hello from two days ago', Date.now() - 48 * 3_600_000);
    const { page, context } = await openInbox(browser, { search: `?conversation=${c.id}` });
    await page.getByText('24-hour window closed: templates only').waitFor();
    const picker = page.getByRole('listbox', { name: 'Templates' });
    await picker.waitFor();
    await shot(page, 'template-only-window', 'templates-only');
    await picker.getByRole('option', { name: /greeting/ }).click();
    await page.getByLabel('language').waitFor();
    await shot(page, 'template-only-window', 'template-variables');
    await page.getByRole('button', { name: 'Send template' }).click();
    await messagesOf(page).locator('[data-message-id]').filter({ hasText: 'Template greeting' }).waitFor({ timeout: 10_000 });
    await shot(page, 'template-only-window', 'template-sent');
    const sent = (await api('GET', `/v1/conversations/${c.id}/messages`)).items.find((m) => m.sender_kind === 'agent');
    check(sent?.content.type === 'whatsapp_template' && sent.content.name === 'greeting', JSON.stringify(sent?.content));
    // A note is still possible.
    await page.getByRole('tab', { name: 'Internal note' }).click();
    const note = page.getByRole('textbox', { name: 'Internal note' });
    await note.fill('Customer came back after two days; reply once they write.');
    await note.press(`${MOD}+Enter`);
    await messagesOf(page).locator('[data-message-id]').filter({ hasText: 'only your team sees this' }).waitFor({ timeout: 10_000 });
    await shot(page, 'template-only-window', 'note');
    await context.close();
  },

  /** View, filters, sort and the open conversation survive a reload and a shared link. */
  async 'url-state'(browser) {
    const c = await newWhatsAppConversation('Url Uma', 'Bookmark me');
    const { page, context } = await openInbox(browser, { search: `?view=team.unassigned&conversation=${c.id}` });
    await heading(page, 'Url Uma').waitFor();
    await page.getByRole('button', { name: /^Channel/ }).click();
    await page.getByRole('checkbox', { name: 'WhatsApp only' }).check();
    await page.keyboard.press('Escape');
    await page.getByRole('combobox', { name: 'Sort conversations' }).selectOption('priority');
    await page.waitForFunction(() => location.search.includes('sort=priority') && location.search.includes('channel=whatsapp'));
    const url = page.url();
    await page.reload();
    await heading(page, 'Url Uma').waitFor();
    check((await page.getByRole('combobox', { name: 'Sort conversations' }).inputValue()) === 'priority', 'sort kept');
    check(await page.getByRole('group', { name: 'Quick filters' }).getByRole('button', { name: 'WhatsApp' }).isVisible(), 'channel filter kept');
    check((await page.locator('[aria-current="page"]').filter({ hasText: 'Unassigned' }).count()) === 1, 'view kept');
    await shot(page, 'url-state', 'after-reload');
    // The same link in another browser (a teammate it was shared with) shows the same screen.
    const other = await openInbox(browser, { token: env.teammateToken || env.token, search: new URL(url).search });
    await heading(other.page, 'Url Uma').waitFor();
    await other.context.close();
    await context.close();
  },

  /**
   * A notification arrives live on an agent's screen: assigned by someone else over REST, the
   * bell's count rises, a toast says so, the panel lists it, clicking it opens the conversation
   * (with its SLA clock), and "Mark all read" clears the count. Agents have no Metrics button.
   */
  async 'notification-live'(browser) {
    if (!env.teammateToken) throw new Error('set INBOX_TEAMMATE_TOKEN');
    const agentToken = env.teammateToken;
    const agentId = jwtSubject(agentToken);
    await roomFor(agentId);
    // SLA targets for normal priority, so the conversation shows its clocks.
    await api('PUT', '/v1/settings/sla', {
      body: { policies: [{ priority: 'normal', first_response_seconds: 3600, resolution_seconds: 86_400 }], warning_percent: 80 },
    });
    const { page, context } = await openInbox(browser, { token: agentToken });
    await page.mouse.move(1200, 400);
    check((await page.getByRole('button', { name: 'Metrics' }).count()) === 0, 'an agent has no Metrics button');
    await bell(page).waitFor();
    const name = `Notified Nina ${Date.now() % 100000}`;
    const c = await newWhatsAppConversation(name, 'Can someone look at my order 4410?');
    await api('PUT', `/v1/conversations/${c.id}/assignment`, { body: { assignee_id: agentId, note: 'VIP, please call back' } });
    // The notification service stores it, the gateway relays it to this agent's socket.
    const assigned = await until('the assigned notification', async () =>
      (await api('GET', '/v1/notifications?limit=50', { token: agentToken })).items.find((n) => n.type === 'assigned' && n.conversation_id === c.id),
    );
    await page.locator('[role="status"]').getByText(/Assigned to you/).first().waitFor({ timeout: 10_000 });
    await bellShowsServerCount(page, agentToken);
    await shot(page, 'notification-live', 'bell-count');
    await bell(page).click();
    const panel = page.getByRole('dialog', { name: 'Notifications' });
    const item = panel.locator(`[data-notification-id="${assigned.id}"]`);
    await item.waitFor();
    check((await item.getAttribute('data-unread')) === 'yes', 'listed as unread');
    check((await item.textContent()).includes(assigned.title), `item says ${await item.textContent()}`);
    await shot(page, 'notification-live', 'panel');
    await item.click();
    await heading(page, name).waitFor();
    await panel.waitFor({ state: 'detached' });
    await page.locator('[data-region="conversation"]').getByRole('group', { name: 'SLA' }).getByText(/First response: .* left/).waitFor({ timeout: 10_000 });
    await until('the notification read', async () =>
      (await api('GET', '/v1/notifications?limit=50', { token: agentToken })).items.find((n) => n.id === assigned.id)?.read_at,
    );
    await shot(page, 'notification-live', 'opened-with-sla');
    await bell(page).click();
    await panel.getByRole('button', { name: 'Mark all read' }).click();
    await page.locator('[data-notification-bell]:visible [data-unread-count]').waitFor({ state: 'detached' });
    check(!(await panel.locator('[data-unread="yes"]').count()), 'nothing unread in the panel');
    await shot(page, 'notification-live', 'all-read');
    check((await api('GET', '/v1/notifications/unread-count', { token: agentToken })).unread_count === 0, 'nothing unread on the server');
    await context.close();
  },

  /**
   * SLA warning: an urgent conversation with an 8-second first-response target (warning at half)
   * shows its clock counting down, at risk, then breached, and the SLA notifications reach its
   * assignee live.
   */
  async 'sla-warning'(browser) {
    if (!env.teammateToken) throw new Error('set INBOX_TEAMMATE_TOKEN');
    const agentToken = env.teammateToken;
    const agentId = jwtSubject(agentToken);
    await roomFor(agentId);
    const normal = { priority: 'normal', first_response_seconds: 3600, resolution_seconds: 86_400 };
    await api('PUT', '/v1/settings/sla', {
      body: { policies: [normal, { priority: 'urgent', first_response_seconds: 8 }], warning_percent: 50 },
    });
    const name = `Sla Sven ${Date.now() % 100000}`;
    const c = await newWhatsAppConversation(name, 'My shop is down, please hurry');
    await api('PUT', `/v1/conversations/${c.id}/assignment`, { body: { assignee_id: agentId } });
    await api('POST', `/v1/conversations/${c.id}/priority`, { body: { priority: 'urgent', reason: 'shop down' } });
    const { page, context } = await openInbox(browser, { token: agentToken, search: `?conversation=${c.id}` });
    await heading(page, name).waitFor();
    const clock = page.locator('[data-region="conversation"]').getByRole('group', { name: 'SLA' }).locator('[data-sla-state]', { hasText: 'First response' });
    await page.locator('[data-region="conversation"]').getByRole('button', { name: /Priority: Urgent/ }).waitFor();
    await clock.and(page.locator('[data-sla-state="at_risk"]')).waitFor({ timeout: 15_000 });
    await shot(page, 'sla-warning', 'at-risk');
    await clock.and(page.locator('[data-sla-state="breached"]')).waitFor({ timeout: 15_000 });
    await clock.getByText(/overdue/).waitFor();
    await shot(page, 'sla-warning', 'breached');
    const mine = await until('the SLA notifications', async () => {
      const items = (await api('GET', '/v1/notifications?limit=50', { token: agentToken })).items.filter((n) => n.conversation_id === c.id);
      return items.some((n) => n.type === 'sla_warning') && items.some((n) => n.type === 'sla_breached') ? items : null;
    });
    const breach = mine.find((n) => n.type === 'sla_breached');
    await bellShowsServerCount(page, agentToken);
    await bell(page).click();
    await page.getByRole('dialog', { name: 'Notifications' }).locator(`[data-notification-id="${breach.id}"]`).waitFor();
    await shot(page, 'sla-warning', 'notified');
    await api('PUT', '/v1/settings/sla', { body: { policies: [normal], warning_percent: 80 } });
    await context.close();
  },

  /** Settings › Notifications reads and writes the server's preferences: still there after a reload. */
  async 'notification-preferences'(browser) {
    const token = env.teammateToken || env.token;
    const { page, context } = await openInbox(browser, { token, search: '' });
    await page.getByRole('button', { name: 'Settings' }).click();
    const section = page.getByRole('region', { name: 'Notifications › Inbox' });
    const reply = section.getByRole('combobox', { name: 'Customer reply' });
    await reply.waitFor();
    await reply.selectOption('sound_visual');
    await section.getByRole('combobox', { name: 'Status changes' }).selectOption('visual');
    await section.getByRole('checkbox', { name: 'Do not disturb' }).check();
    await section.getByLabel('Quiet hours from').fill('22:00');
    await section.getByLabel('Quiet hours to').fill('07:30');
    await shot(page, 'notification-preferences', 'edited');
    await section.getByRole('button', { name: 'Save notification preferences' }).click();
    await section.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    const saved = await api('GET', '/v1/me/notification-preferences', { token });
    check(saved.types.customer_replied === 'sound_visual' && saved.types.status_changed === 'visual', JSON.stringify(saved.types));
    check(saved.do_not_disturb === true && saved.quiet_hours_start === '22:00' && saved.quiet_hours_end === '07:30', JSON.stringify(saved));
    check(!(await page.evaluate(() => Object.keys(localStorage).some((k) => k.includes('notification')))), 'nothing kept in localStorage');
    await page.reload();
    const again = page.getByRole('region', { name: 'Notifications › Inbox' });
    await again.getByRole('combobox', { name: 'Customer reply' }).waitFor();
    check((await again.getByRole('combobox', { name: 'Customer reply' }).inputValue()) === 'sound_visual', 'customer reply kept');
    check((await again.getByRole('combobox', { name: 'Status changes' }).inputValue()) === 'visual', 'status changes kept');
    check(await again.getByRole('checkbox', { name: 'Do not disturb' }).isChecked(), 'do not disturb kept');
    check((await again.getByLabel('Quiet hours from').inputValue()) === '22:00', 'quiet hours kept');
    // Browser push for this browser: its state is read (headless Chromium has no push service,
    // so it is off or not available here; the flow itself is unit-tested in state/push.test.ts).
    const push = again.locator('[aria-label="Browser push"]');
    await push.locator('strong').filter({ hasText: /^(on|off|blocked|not available)$/ }).waitFor();
    await shot(page, 'notification-preferences', 'after-reload');
    // Back to the defaults for the scenarios after this one.
    await api('PUT', '/v1/me/notification-preferences', {
      token,
      body: { types: { customer_replied: 'default', status_changed: 'default' }, do_not_disturb: false, quiet_hours_start: '', quiet_hours_end: '' },
    });
    await context.close();
  },

  /** A supervisor opens the metrics dashboard: live volume, figures of today, a table by agent, the CSV. */
  async 'metrics-dashboard'(browser) {
    if (!env.supervisorToken) throw new Error('set INBOX_SUPERVISOR_TOKEN');
    // Some traffic of our own, so the scenario stands alone: a conversation answered and resolved.
    const c = await newWhatsAppConversation('Metric Mia', 'How long does shipping take?');
    await api('POST', `/v1/conversations/${c.id}/messages`, { body: { text: 'Two to three days.', idempotency_key: `e2e-metrics-${c.id}` } });
    await api('POST', `/v1/conversations/${c.id}/status`, { body: { status: 'resolved' } });
    const day = new Date();
    const q = `from=${encodeURIComponent(new Date(day.getTime() - 86_400_000).toISOString())}&to=${encodeURIComponent(new Date(day.getTime() + 3_600_000).toISOString())}&bucket=hour`;
    await until('the metrics service to count the traffic', async () => {
      const r = await api('GET', `/v1/metrics/report?${q}`, { token: env.supervisorToken });
      return r.series[0]?.total.resolutions >= 1 && r.series[0]?.total.new_conversations >= 1;
    }, 20_000);
    const { page, context } = await openInbox(browser, { token: env.supervisorToken });
    await page.getByRole('button', { name: 'Metrics' }).click();
    const report = page.locator('[data-report]');
    await report.waitFor({ timeout: 15_000 });
    const value = Number(await report.locator('[data-figure="New conversations"] [data-value]').textContent());
    check(value >= 1, `new conversations today: ${value}`);
    await page.getByRole('table', { name: 'Figures by agent' }).waitFor();
    await page.getByText('Right now').waitFor();
    const active = await page.getByRole('region', { name: /Right now/ }).locator('[data-figure="Active"] [data-value]').textContent();
    check(/^\d+$/.test(active ?? ''), `live active figure: ${active}`);
    await shot(page, 'metrics-dashboard', 'today');
    await page.getByRole('button', { name: '7 days' }).click();
    await page.getByRole('combobox', { name: 'Group the table by' }).selectOption('channel');
    await page.getByRole('table', { name: 'Figures by channel' }).getByText('WhatsApp').waitFor({ timeout: 10_000 });
    await shot(page, 'metrics-dashboard', 'seven-days-by-channel');
    const download = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Download CSV' }).click();
    const file = await download;
    const csv = readFileSync(await file.path(), 'utf8');
    check(csv.split('\n').length >= 2, `csv: ${csv.slice(0, 200)}`);
    console.log(`  downloaded ${file.suggestedFilename()} (${csv.length} bytes)`);
    // A supervisor reloading /metrics lands on the dashboard again.
    await page.reload();
    await page.locator('[data-report]').waitFor({ timeout: 15_000 });
    await context.close();
  },

  /**
   * Search palette: Ctrl+K opens it, a word of a customer's message (once indexed) shows in the
   * message's highlighted fragment, Enter opens that conversation; bad syntax (`status:` with
   * no value, an unclosed quote) is pointed at its column; `phone:` in another writing of the
   * number finds the customer.
   */
  async 'search-palette'(browser) {
    const letters = Array.from({ length: 6 }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');
    const word = `zq${letters}`;
    const name = `Search Sofía ${Date.now() % 100000}`;
    // Accents and an emoji before the word: the server's byte ranges must still land on it.
    const c = await newWhatsAppConversation(name, `Crème brûlée 😡📦 arrived broken, the ${word} box was empty`);
    // Indexing follows the events: retry the search itself, within a bounded time.
    await until(
      `"${word}" indexed`,
      async () => (await api('GET', `/v1/search?q=${encodeURIComponent(word)}`)).items.some((h) => h.conversation.id === c.id),
      20_000,
    );

    const { page, context } = await openInbox(browser);
    await page.mouse.move(1200, 400);
    await page.keyboard.press(`${MOD}+k`);
    const palette = page.getByRole('dialog', { name: 'Search conversations' });
    const box = palette.getByRole('textbox', { name: 'Search conversations' });
    await box.waitFor();
    check(await box.evaluate((el) => el === document.activeElement), 'the search box has the focus');
    await shot(page, 'search-palette', 'opened-with-examples');
    await box.pressSequentially(word, { delay: 40 });
    const result = palette.locator(`[id="search-${c.id}"]`);
    await result.waitFor({ timeout: 10_000 });
    const marks = await result.locator('mark').allTextContents();
    check(marks.includes(word), `the fragment marks "${word}" exactly (marks: ${JSON.stringify(marks)})`);
    const label = await result.locator('[data-search-field]').getAttribute('data-search-field');
    check(label === 'body', `the fragment is from a message (${label})`);
    check((await result.textContent()).includes('Message'), 'the field it matched is named');
    await shot(page, 'search-palette', 'highlighted-fragment');
    await page.keyboard.press('Enter');
    await palette.waitFor({ state: 'detached' });
    await heading(page, name).waitFor({ timeout: 10_000 });
    check(page.url().includes(c.id), `the URL names the conversation (${page.url()})`);
    await shot(page, 'search-palette', 'landed-on-conversation');

    // Bad syntax: the error at the column the gateway gives, marked under the input.
    await page.keyboard.press(`${MOD}+k`);
    await box.waitFor();
    for (const [query, at] of [
      ['refund status:', ' '],
      ['"late delivery', '"'],
    ]) {
      const refused = await fetch(`${env.gateway}/v1/search?q=${encodeURIComponent(query)}`, {
        headers: { Authorization: `Bearer ${env.token}` },
      });
      const body = await refused.json();
      check(refused.status === 400 && body.error.code === 'invalid_argument', `${query}: a 400 (${JSON.stringify(body)})`);
      const column = body.error.details.column;
      await box.fill('');
      await box.pressSequentially(query, { delay: 20 });
      const alert = palette.getByRole('alert');
      await alert.waitFor({ timeout: 10_000 });
      const text = await alert.textContent();
      check(text.includes(`Column ${column}:`), `${query}: the column is shown (${text})`);
      check(!/went wrong|HTTP 400/.test(text), `${query}: not a generic error (${text})`);
      await palette.locator(`[data-search-error-column="${column}"]`).waitFor();
      const mark = palette.locator('[data-search-error-mark]');
      check((await mark.textContent()) === (Array.from(query)[column - 1] ?? ' '), `${query}: the mark is on column ${column}`);
      if (at !== ' ') check((await mark.textContent()) === at, `${query}: the mark is on ${at}`);
      check((await box.getAttribute('aria-invalid')) === 'true', `${query}: the input is marked invalid`);
      await shot(page, 'search-palette', `syntax-error-column-${column}`);
    }

    // phone: in another writing of the same number (+55 (11) 9xxxx-xxxx for 5511 9xxxxxxxx).
    const n = c.from;
    const written = `+${n.slice(0, 2)} (${n.slice(2, 4)}) ${n.slice(4, 9)}-${n.slice(9)}`;
    await until(
      'the customer indexed by phone',
      async () =>
        (await api('GET', `/v1/search?q=${encodeURIComponent(`phone:"${written}"`)}`)).items.some((h) => h.conversation.id === c.id),
      20_000,
    );
    await box.fill('');
    await box.pressSequentially(`phone:"${written}"`, { delay: 20 });
    const byPhone = palette.locator(`[id="search-${c.id}"]`);
    await byPhone.waitFor({ timeout: 10_000 });
    check((await byPhone.locator('[data-search-field]').getAttribute('data-search-field')) === 'phone', 'found by its phone');
    check((await byPhone.locator('mark').allTextContents()).includes(`+${n}`), 'the phone is shown marked');
    await shot(page, 'search-palette', 'found-by-phone');

    // Nothing matches: the empty state suggests queries of the language.
    await box.fill(`${word}x nothingmatchesthis`);
    await palette.locator('[data-search-empty]').waitFor({ timeout: 10_000 });
    await shot(page, 'search-palette', 'no-match-hints');
    await page.keyboard.press('Escape');
    await palette.waitFor({ state: 'detached' });
    await context.close();
  },

  /**
   * The gateway goes away and comes back: "connection lost, reconnecting…" shows, then goes by
   * itself, and a message that arrived meanwhile is on screen. Needs INBOX_GATEWAY_STOP_CMD and
   * INBOX_GATEWAY_START_CMD (shell commands that stop and start the gateway); skipped without.
   */
  async reconnect(browser) {
    const stop = process.env.INBOX_GATEWAY_STOP_CMD;
    const start = process.env.INBOX_GATEWAY_START_CMD;
    if (!stop || !start) {
      console.log('  skipped: set INBOX_GATEWAY_STOP_CMD and INBOX_GATEWAY_START_CMD');
      return;
    }
    const { page, context } = await openInbox(browser);
    await page.mouse.move(1200, 400);
    execSync(stop, { stdio: 'inherit' });
    await page.getByText('Connection lost, reconnecting').waitFor({ timeout: 15_000 });
    await shot(page, 'reconnect', 'connection-lost');
    const name = `Missed Max ${Date.now() % 100000}`;
    await sendWhatsApp({ from: randomPhone(), name, text: 'Sent while you were disconnected' });
    execSync(start, { stdio: 'inherit' });
    await page.getByText('Connection lost, reconnecting').waitFor({ state: 'detached', timeout: 60_000 });
    await page.getByRole('option', { name: new RegExp(name) }).waitFor({ timeout: 15_000 });
    await shot(page, 'reconnect', 'caught-up');
    await context.close();
  },
};
