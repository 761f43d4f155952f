// `npm run e2e [-- scenario ...]`: the end-to-end scenarios in Debian's headless Chromium.
import { runScenarios } from './lib.mjs';
import { scenarios } from './scenarios.mjs';

const ok = await runScenarios(scenarios, process.argv.slice(2));
process.exit(ok ? 0 : 1);
