// `node e2e/seed.mjs 10000`: that many WhatsApp customers, one signed webhook each (for the
// 10,000-conversation list measure). Uses INBOX_INGEST_URL, INBOX_WHATSAPP_APP_SECRET.
import { sendWhatsApp } from './lib.mjs';

const total = Number(process.argv[2] ?? 10000);
const concurrency = Number(process.env.SEED_CONCURRENCY ?? 16);
const run = `${Date.now() % 1_000_000}`.padStart(6, '0');
let next = 0;
let done = 0;
const started = Date.now();
async function worker() {
  for (;;) {
    const i = next++;
    if (i >= total) return;
    const from = `49${run}${String(i).padStart(6, '0')}`;
    await sendWhatsApp({ from, name: `Seeded ${i}`, text: `Seeded question ${i}: where is my order?` });
    done += 1;
    if (done % 1000 === 0) console.log(`${done} sent (${Math.round(done / ((Date.now() - started) / 1000))}/s)`);
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
console.log(`${done} webhooks in ${((Date.now() - started) / 1000).toFixed(1)} s`);
