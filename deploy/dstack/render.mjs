#!/usr/bin/env node
/**
 * Renders the app-compose.json that dstack launches, from docker-compose.yaml here and one image reference by digest,
 * and prints its compose hash: the SHA-256 that the CVM measures into RTMR3 and that /attestation reports as
 * compose_hash. A verifier renders the same file from the release's commit and compares (README.md here).
 *
 *   node deploy/dstack/render.mjs ghcr.io/example/oauth3@sha256:<64 hex> [--out app-compose.json] [--name oauth3]
 *
 * The hash is over the file's exact bytes, so the file is written the way dstack's own SDK hashes an app-compose
 * (getComposeHash: keys sorted, no whitespace), and the two are checked to agree before anything is written.
 * Only Node and @phala/dstack-sdk (a dependency of oauth3) are needed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { getComposeHash } from '@phala/dstack-sdk/get-compose-hash';

const here = path.dirname(fileURLToPath(import.meta.url));
export const TEMPLATE = path.join(here, 'docker-compose.yaml');
export const PLACEHOLDER = '{{OAUTH3_IMAGE}}';

/**
 * `<registry>/<repository>@sha256:<64 lowercase hex>`: a registry host (a dot or a port in it, or localhost) and at
 * least one path component, lower case as the distribution spec wants, no tag. A tag beside the digest is refused too:
 * it says nothing the digest does not, and invites reading the tag instead of the digest.
 */
const IMAGE_BY_DIGEST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+(?::\d{1,5})?|localhost(?::\d{1,5})?)(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+@sha256:[0-9a-f]{64}$/;

/**
 * Names an operator must never be able to set through an encrypted env var: they decide where the master key comes
 * from and whether production checks run, so they are written in the compose, where the hash covers their values.
 */
const FIXED = ['MASTER_KEY_SOURCE', 'MASTER_KEY', 'MASTER_KEY_PREVIOUS', 'NODE_ENV', 'DATA_DIR', 'METRICS_PORT', 'METRICS_HOST'];

/** Why `ref` is not an image reference by digest, or undefined when it is one. */
export function imageRefProblem(ref) {
  if (typeof ref !== 'string' || !ref) return 'no image reference given';
  if (!ref.includes('@')) return `${ref} names no digest: give <registry>/<repo>@sha256:<64 hex>, never a tag`;
  const [name, digest] = ref.split('@', 2);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return `${digest} is not sha256: followed by 64 lowercase hex digits`;
  if (/:[^/]*$/.test(name)) return `${name} carries a tag: reference the image by digest only`;
  if (!IMAGE_BY_DIGEST.test(ref)) return `${name} is not <registry>/<repository> (a registry host, then lowercase path components)`;
  return undefined;
}

/** Every image a compose text names, with `image:` at any indentation. */
export function imagesOf(compose) {
  return [...withoutComments(compose).matchAll(/^\s*image:\s*["']?([^"'\s#]+)["']?\s*(?:#.*)?$/gm)].map((m) => m[1]);
}

/** A compose text without its YAML comments (whole-line, and trailing ones outside quotes), which compose never reads. */
function withoutComments(compose) {
  return compose
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .map((line) => {
      const m = /\s+#.*$/.exec(line);
      const before = m ? line.slice(0, m.index) : line;
      const quotes = (before.match(/"/g) ?? []).length + (before.match(/'/g) ?? []).length;
      return m && quotes % 2 === 0 ? before : line;
    })
    .join('\n');
}

/** Names of the variables docker compose would interpolate (`$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:?x}`); `$$` is a literal $. */
export function variablesOf(compose) {
  const names = new Set();
  for (const m of withoutComments(compose)
    .replace(/\$\$/g, '')
    .matchAll(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))/g))
    names.add(m[1] ?? m[2]);
  return [...names].sort();
}

/** The key-sorted, whitespace-free JSON that dstack's SDK hashes (getComposeHash's toDeterministicJson). */
function deterministicJson(value) {
  const sort = (v) =>
    Array.isArray(v)
      ? v.map(sort)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort(v[k])]),
          )
        : v;
  return JSON.stringify(sort(value));
}

/**
 * The app-compose for `image`: the template with the image filled in, every variable it reads allowed as an
 * encrypted env var and nothing else, and the KMS on (the master key is derived for this app by dstack's KMS).
 */
export function renderAppCompose(image, { template = readFileSync(TEMPLATE, 'utf8'), name = 'oauth3' } = {}) {
  const problem = imageRefProblem(image);
  if (problem) throw new Error(problem);
  if (template.split(PLACEHOLDER).length !== 2) throw new Error(`the template must hold ${PLACEHOLDER} exactly once`);
  const compose = template.replace(PLACEHOLDER, image);
  for (const named of imagesOf(compose)) {
    const bad = imageRefProblem(named);
    if (bad) throw new Error(`every image must be pinned by digest: ${bad}`);
  }
  const allowedEnvs = variablesOf(compose);
  const fixed = allowedEnvs.filter((v) => FIXED.includes(v));
  if (fixed.length) throw new Error(`${fixed.join(', ')} must be written in the compose, not left to an env var`);
  if (!compose.includes('/var/run/dstack.sock:/var/run/dstack.sock')) throw new Error('the compose does not mount the dstack guest agent');
  if (!/^\s*MASTER_KEY_SOURCE:\s*["']?dstack["']?\s*$/m.test(compose))
    throw new Error('the compose does not set MASTER_KEY_SOURCE: dstack');

  const appCompose = {
    manifest_version: 2,
    name,
    runner: 'docker-compose',
    docker_compose_file: compose,
    allowed_envs: allowedEnvs,
    // Keys (the master key above all) come from dstack's KMS, bound to this app; not from the host.
    kms_enabled: true,
    local_key_provider_enabled: false,
    key_provider_id: '',
    // The dstack gateway gives the CVM a TLS endpoint; turn it off to put a proxy of your own in front.
    gateway_enabled: true,
    // Container logs can hold owners' ids and client addresses: kept private. The TCB info (event log, app-compose)
    // is public, so anyone can check what runs.
    public_logs: false,
    public_sysinfo: false,
    public_tcbinfo: true,
    no_instance_id: false,
    secure_time: false,
  };
  const json = deterministicJson(appCompose);
  const hash = createHash('sha256').update(json, 'utf8').digest('hex');
  if (hash !== getComposeHash(appCompose)) throw new Error("the written file's SHA-256 differs from dstack's getComposeHash");
  return { appCompose, json, hash };
}

function main(argv) {
  const args = [...argv];
  const option = (flag, fallback) => {
    const i = args.indexOf(flag);
    if (i < 0) return fallback;
    const [, value] = args.splice(i, 2);
    if (!value) throw new Error(`${flag} needs a value`);
    return value;
  };
  const out = option('--out', path.join(here, 'app-compose.json'));
  const name = option('--name', 'oauth3');
  if (args.length !== 1) throw new Error('usage: render.mjs <registry>/<repo>@sha256:<64 hex> [--out app-compose.json] [--name oauth3]');
  const { json, hash } = renderAppCompose(args[0], { name });
  writeFileSync(out, json);
  process.stderr.write(`wrote ${out} (${args[0]})\ncompose hash:\n`);
  process.stdout.write(`${hash}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`render: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
