#!/usr/bin/env node
/**
 * `npm start`: builds dist/ when a source changed (build-if-changed.mjs), then runs the server in this same process.
 * One Node process rather than a prestart script and then the server: a restart does not pay for a second Node and a
 * second npm lifecycle step, a few hundred milliseconds of the two seconds a restart should take.
 */
import { buildIfChanged } from './build-if-changed.mjs';

if (!(await buildIfChanged())) process.exit(1);
await import('../dist/src/main.js');
