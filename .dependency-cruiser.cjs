/**
 * The layering rule of docs/architecture.md, checked on every import (type-only ones included) by `npm run lint`:
 * arrows only downward, composition root → features → services → foundations, no cycles, and the storage adapters
 * imported only by the composition root.
 */
/** The entry points that wire everything: the server, its workers' primary, the command line, and the benchmark's processes. */
const ROOT = '^src/(main|server|app|services)\\.ts$|^src/(cli|cluster)/|^bench/';
const FEATURES = '^(interactions/|src/(console|developers|resource|telegram-bot|deployment)/)';
const PLUGINS = '^src/plugins/[^/]+/';
const SERVICES =
  '^src/(provider|grants|policies|connections|vault|upstream|clients|accounts|passkeys|keys|registration|agents|notices|tee)/|^src/plugins/[^/]+\\.ts$';
const FOUNDATIONS = '^(scopes/|src/(db|http|web|metrics)/|src/(config|setting|errors|clock|logger|paths|rate-limit)\\.ts$)';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment:
        'No module depends on itself through others, type-only imports included. A plugin loaded lazily ' +
        '(src/plugins/builtin.ts) is not a dependency at load time.',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['dynamic-import'] } },
    },
    {
      name: 'adapters-only-from-the-root',
      severity: 'error',
      comment: 'Storage for oidc-provider is chosen and built by the composition root alone.',
      from: { pathNot: `${ROOT}|^adapters/` },
      to: { path: '^adapters/' },
    },
    {
      name: 'nothing-imports-the-root',
      severity: 'error',
      from: { pathNot: ROOT },
      to: { path: ROOT },
    },
    {
      name: 'features-do-not-import-features',
      severity: 'error',
      comment: 'What two features share belongs to a service or to the web kit.',
      from: { path: '^(interactions|src/console|src/developers|src/resource|src/telegram-bot|src/deployment)/' },
      to: { path: FEATURES, pathNot: '^$1/' },
    },
    {
      name: 'services-do-not-import-features',
      severity: 'error',
      from: { path: `${SERVICES}|${PLUGINS}` },
      to: { path: FEATURES },
    },
    {
      name: 'plugins-do-not-import-each-other',
      severity: 'error',
      from: { path: '^src/plugins/([^/]+)/' },
      to: { path: '^src/plugins/[^/]+/', pathNot: '^src/plugins/$1/' },
    },
    {
      name: 'core-does-not-name-a-plugin',
      severity: 'error',
      comment: 'Core reads plugins through the registry; only the list of built-in plugins names them.',
      from: { pathNot: '^src/plugins/' },
      to: { path: PLUGINS },
    },
    {
      name: 'foundations-stay-at-the-bottom',
      severity: 'error',
      comment: "The configuration reads the plugins' settings (src/plugins/builtin.ts and each */settings.ts) and nothing else above it.",
      from: { path: FOUNDATIONS },
      to: { path: `${FEATURES}|${SERVICES}|${PLUGINS}`, pathNot: '^src/plugins/builtin\\.ts$|^src/plugins/[^/]+/settings\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
