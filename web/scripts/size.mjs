// The first screen's JavaScript, gzipped: what index.html loads (not the lazy chunks).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const files = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
let js = 0;
let css = 0;
for (const f of files) {
  const size = gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
  if (f.endsWith('.js')) js += size;
  else css += size;
  console.log(`${f}\t${(size / 1024).toFixed(1)} kB gzip`);
}
console.log(`first-screen JS: ${(js / 1024).toFixed(1)} kB gzip (limit 150 kB); CSS: ${(css / 1024).toFixed(1)} kB gzip`);
if (js > 150 * 1024) {
  console.error('over the 150 kB budget');
  process.exit(1);
}
