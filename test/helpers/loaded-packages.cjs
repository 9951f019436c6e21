// Node's module hooks, preloaded (node --require this-file): appends to LOADED_PACKAGES_FILE the name of every
// package the process resolves a module of, once each, so a test can tell what a server loaded.
const { appendFileSync } = require('node:fs');
const { registerHooks } = require('node:module');

const file = process.env.LOADED_PACKAGES_FILE;
const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    const name = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(resolved.url)?.[1];
    if (file && name && !seen.has(name)) {
      seen.add(name);
      appendFileSync(file, `${name}\n`);
    }
    return resolved;
  },
});
