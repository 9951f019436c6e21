import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configTable } from '../config.js';
import { projectRoot } from '../paths.js';

/** `npm run config:table`: rewrites the README's configuration table from the zod schema in src/config.ts. */
const readme = path.join(projectRoot, 'README.md');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';
const text = readFileSync(readme, 'utf8');
const [before, rest] = text.split(start);
const after = rest?.split(end)[1];
if (before === undefined || after === undefined) throw new Error(`README.md has no ${start} … ${end} section`);
writeFileSync(readme, `${before}${start}\n${configTable()}\n${end}${after}`);
console.log('README.md configuration table updated');
