/**
 * Renders helm/oauth3 the way `helm template` does, without helm, so the chart tests run on any machine: a Go
 * text/template interpreter for the subset of the language and of the Sprig/Helm functions the chart uses, values read
 * as YAML 1.1 and coalesced as Helm does (maps merge, null deletes a default) and checked against values.schema.json
 * before rendering. A function or construct outside the subset is an error, never silently skipped, so a chart that
 * outgrows this renderer fails its tests instead of passing untested. Where HELM names a helm binary (always in CI),
 * test/deployment/helm-real.ts renders with it too and fails when the two disagree.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  parseAllDocuments,
  parse as parseYaml,
  stringify as stringifyYaml,
  visit,
  type DocumentOptions,
  type ParseOptions,
  type SchemaOptions,
} from 'yaml';
import { validate, type Schema } from '../helpers/json-schema.js';

/* ------------------------------------------------------------------ values ------------------------------------------------------------------ */

/**
 * YAML as Helm reads values.yaml and Kubernetes reads manifests: YAML 1.1, where y, n, yes, no, on and off are booleans
 * (a key `n:` is the key "false") and 0755 is octal, but without 1.1's sexagesimal numbers and timestamps, which Helm's
 * reader leaves as strings.
 */
export const helmYaml: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  customTags: (tags) =>
    tags.filter((t) =>
      typeof t === 'string'
        ? !['intTime', 'floatTime', 'timestamp'].includes(t)
        : t.format !== 'TIME' && t.tag !== 'tag:yaml.org,2002:timestamp',
    ),
};

/**
 * The documents of a rendered YAML stream, read as Kubernetes reads them (helmYaml). A whole number written as a float
 * (1e+06, 3.0) stays the text it was: Kubernetes reads a float there, which an integer field refuses, where JavaScript
 * would see an integer.
 */
export function readManifests(text: string, where: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text, helmYaml)) {
    if (doc.errors.length) throw new Error(`${where}: the rendered YAML does not parse: ${doc.errors[0]!.message}\n${text}`);
    visit(doc, {
      Scalar(_key, node) {
        const written = node.range ? text.slice(node.range[0], node.range[1]) : '';
        if (Number.isInteger(node.value) && /^[-+]?[\d.]+[eE.]/.test(written)) node.value = written;
      },
    });
    const m = doc.toJS() as Manifest | null;
    if (m) out.push(m);
  }
  return out;
}

/** A Go int (results of int, add, sub, mul…), printed as an integer; plain numbers from values are float64, as in Helm. */
class GoInt {
  constructor(readonly n: number) {}
}

type Value = unknown;
const num = (v: Value): number => (v instanceof GoInt ? v.n : typeof v === 'string' ? Number.parseFloat(v) || 0 : Number(v ?? 0));

/** Go's %v of a float64: shortest representation, exponent form from 1e21 down to 1e6 as strconv 'g' does. */
function formatFloat(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e6) return String(n);
  const exp = n === 0 ? 0 : Math.floor(Math.log10(Math.abs(n)));
  if (exp < -4 || exp >= 21 || (exp >= 6 && Number.isFinite(n))) {
    const [mantissa, e] = n.toExponential().split('e') as [string, string];
    const sign = e.startsWith('-') ? '-' : '+';
    const digits = e.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  return String(n);
}

/** Go's fmt %v, as templates print values. */
function str(v: Value): string {
  if (v === undefined || v === null) return '<no value>';
  if (v instanceof GoInt) return String(v.n);
  if (typeof v === 'number') return formatFloat(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(str).join(' ')}]`;
  if (typeof v === 'object')
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${str((v as Record<string, Value>)[k])}`)
      .join(' ')}]`;
  return typeof v === 'bigint' || typeof v === 'symbol' ? v.toString() : '<function>';
}

/** Go template truth: false, 0, nil, empty string, empty list or map are false. */
function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (v instanceof GoInt) return v.n !== 0;
  if (typeof v === 'number') return v !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Plain data for YAML/JSON output: GoInt becomes a number. */
function plain(v: Value): Value {
  if (v instanceof GoInt) return v.n;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const isMap = (v: Value): v is Record<string, Value> => !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof GoInt);

/* ------------------------------------------------------------------ parsing ------------------------------------------------------------------ */

type Arg =
  | { t: 'dot'; chain: string[] }
  | { t: 'var'; name: string; chain: string[] }
  | { t: 'lit'; value: Value }
  | { t: 'ident'; name: string }
  | { t: 'paren'; pipe: Pipe; chain: string[] };
interface Pipe {
  decl?: { vars: string[]; op: ':=' | '=' };
  cmds: Arg[][];
}
type Node =
  | { k: 'text'; s: string }
  | { k: 'out'; pipe: Pipe }
  | { k: 'if'; branches: Array<{ pipe: Pipe; body: Node[] }>; otherwise: Node[] }
  | { k: 'with'; pipe: Pipe; body: Node[]; otherwise: Node[] }
  | { k: 'range'; pipe: Pipe; body: Node[]; otherwise: Node[] }
  | { k: 'template'; name: string; pipe?: Pipe };

type Token = { k: 'text'; s: string } | { k: 'action'; s: string };

/** Splits a template into text and actions, applying the {{- and -}} whitespace trims and dropping comments. */
function lex(src: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      out.push({ k: 'text', s: text });
      break;
    }
    const trimLeft = src.startsWith('{{- ', open) || src.startsWith('{{-\n', open);
    if (trimLeft) text = text.replace(/\s+$/, '');
    out.push({ k: 'text', s: text });
    let j = open + (trimLeft ? 3 : 2);
    let quote = '';
    const comment = /^\s*\/\*/.exec(src.slice(j, j + 8));
    if (comment) j = src.indexOf('*/', j) + 2;
    for (; j < src.length; j++) {
      const c = src[j]!;
      if (quote) {
        if (c === '\\' && quote === '"') j++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === '`') quote = c;
      else if (src.startsWith('}}', j)) break;
    }
    if (j >= src.length) throw new Error(`${file}: unclosed action at offset ${open}`);
    let body = src.slice(open + (trimLeft ? 3 : 2), j);
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      trimNext = true;
    }
    body = body.trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) out.push({ k: 'action', s: body });
    i = j + 2;
  }
  return out;
}

type Tok = { t: 'str' | 'num' | 'var' | 'field' | 'ident' | 'op'; v: string; glued: boolean };

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    const glued = i > 0 && !/\s/.test(s[i - 1]!);
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    let m: RegExpExecArray | null;
    const rest = s.slice(i);
    if (c === '"') {
      m = /^"(?:[^"\\]|\\.)*"/.exec(rest);
      if (!m) throw new Error(`unterminated string in {{ ${s} }}`);
      toks.push({ t: 'str', v: JSON.parse(m[0]) as string, glued });
    } else if (c === '`') {
      m = /^`[^`]*`/.exec(rest);
      if (!m) throw new Error(`unterminated raw string in {{ ${s} }}`);
      toks.push({ t: 'str', v: m[0].slice(1, -1), glued });
    } else if ((m = /^(:=|[|(),=])/.exec(rest))) toks.push({ t: 'op', v: m[0], glued });
    else if ((m = /^-?\d+(\.\d+)?/.exec(rest))) toks.push({ t: 'num', v: m[0], glued });
    else if ((m = /^\$[A-Za-z0-9_]*/.exec(rest))) toks.push({ t: 'var', v: m[0], glued });
    else if ((m = /^\.[A-Za-z0-9_]*/.exec(rest))) toks.push({ t: 'field', v: m[0].slice(1), glued });
    else if ((m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(rest))) toks.push({ t: 'ident', v: m[0], glued });
    else throw new Error(`cannot read "${rest}" in {{ ${s} }}`);
    i += m[0].length;
  }
  return toks;
}

function parsePipe(toks: Tok[], pos = { i: 0 }, inParen = false): Pipe {
  const pipe: Pipe = { cmds: [] };
  // Declarations: $a := …, $a, $b := … (range), $a = …
  const save = pos.i;
  const vars: string[] = [];
  while (toks[pos.i]?.t === 'var') {
    vars.push(toks[pos.i]!.v);
    pos.i++;
    if (toks[pos.i]?.v === ',') pos.i++;
    else break;
  }
  const op = toks[pos.i];
  if (vars.length && op?.t === 'op' && (op.v === ':=' || op.v === '=')) {
    pipe.decl = { vars, op: op.v };
    pos.i++;
  } else pos.i = save;
  let cmd: Arg[] = [];
  const chainAfter = (): string[] => {
    const chain: string[] = [];
    while (toks[pos.i]?.t === 'field' && toks[pos.i]!.glued) chain.push(toks[pos.i++]!.v);
    return chain;
  };
  while (pos.i < toks.length) {
    const tok = toks[pos.i]!;
    if (tok.t === 'op' && tok.v === ')') {
      if (!inParen) throw new Error('unexpected )');
      break;
    }
    pos.i++;
    if (tok.t === 'op' && tok.v === '|') {
      pipe.cmds.push(cmd);
      cmd = [];
    } else if (tok.t === 'op' && tok.v === '(') {
      const inner = parsePipe(toks, pos, true);
      if (toks[pos.i]?.v !== ')') throw new Error('missing )');
      pos.i++;
      cmd.push({ t: 'paren', pipe: inner, chain: chainAfter() });
    } else if (tok.t === 'str') cmd.push({ t: 'lit', value: tok.v });
    else if (tok.t === 'num') cmd.push({ t: 'lit', value: tok.v.includes('.') ? Number(tok.v) : new GoInt(Number(tok.v)) });
    else if (tok.t === 'field') {
      const chain = tok.v ? [tok.v, ...chainAfter()] : chainAfter();
      cmd.push({ t: 'dot', chain });
    } else if (tok.t === 'var') cmd.push({ t: 'var', name: tok.v, chain: chainAfter() });
    else if (tok.t === 'ident') {
      if (tok.v === 'true' || tok.v === 'false') cmd.push({ t: 'lit', value: tok.v === 'true' });
      else if (tok.v === 'nil') cmd.push({ t: 'lit', value: null });
      else cmd.push({ t: 'ident', name: tok.v });
    } else throw new Error(`unexpected "${tok.v}"`);
  }
  if (cmd.length) pipe.cmds.push(cmd);
  if (!pipe.cmds.length) throw new Error('empty pipeline');
  return pipe;
}

const pipeOf = (s: string): Pipe => parsePipe(tokenize(s));

/** Builds the node tree of one file; defines go into `defines`. */
function parseTemplate(src: string, file: string, defines: Map<string, Node[]>): Node[] {
  const tokens = lex(src, file);
  let i = 0;
  const keyword = (s: string) => /^([a-z]+)\b\s*([\s\S]*)$/.exec(s);
  function block(ends: string[]): { nodes: Node[]; end: string; rest: string } {
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const tok = tokens[i++]!;
      if (tok.k === 'text') {
        if (tok.s) nodes.push({ k: 'text', s: tok.s });
        continue;
      }
      const m = keyword(tok.s);
      const word = m?.[1] ?? '';
      const rest = m?.[2] ?? '';
      if (ends.includes(word)) return { nodes, end: word, rest };
      if (word === 'if') {
        const branches = [{ pipe: pipeOf(rest), body: [] as Node[] }];
        let otherwise: Node[] = [];
        for (;;) {
          const b = block(['else', 'end']);
          branches[branches.length - 1]!.body = b.nodes;
          if (b.end === 'end') break;
          const elseIf = /^if\s+([\s\S]*)$/.exec(b.rest);
          if (elseIf) branches.push({ pipe: pipeOf(elseIf[1]!), body: [] });
          else {
            otherwise = block(['end']).nodes;
            break;
          }
        }
        nodes.push({ k: 'if', branches, otherwise });
      } else if (word === 'with' || word === 'range') {
        const b = block(['else', 'end']);
        const otherwise = b.end === 'else' ? block(['end']).nodes : [];
        nodes.push({ k: word, pipe: pipeOf(rest), body: b.nodes, otherwise });
      } else if (word === 'define') {
        const name = JSON.parse(rest.trim()) as string;
        defines.set(name, block(['end']).nodes);
      } else if (word === 'template' || word === 'block') {
        throw new Error(`${file}: {{ ${word} }} is not supported by this renderer; use include`);
      } else if (['end', 'else', 'break', 'continue'].includes(word)) {
        throw new Error(`${file}: unexpected {{ ${tok.s} }}`);
      } else nodes.push({ k: 'out', pipe: pipeOf(tok.s) });
    }
    if (ends.length) throw new Error(`${file}: missing {{ end }}`);
    return { nodes, end: '', rest: '' };
  }
  return block([]).nodes;
}

/* ------------------------------------------------------------------ execution ------------------------------------------------------------------ */

class Scope {
  private vars = new Map<string, Value>();
  constructor(private readonly parent?: Scope) {}
  get(name: string): Value {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw new Error(`undefined variable ${name}`);
  }
  declare(name: string, v: Value) {
    this.vars.set(name, v);
  }
  assign(name: string, v: Value) {
    if (this.vars.has(name)) this.vars.set(name, v);
    else if (this.parent) this.parent.assign(name, v);
    else throw new Error(`undefined variable ${name}`);
  }
}

class HelmFail extends Error {}

function field(v: Value, chain: string[], what: string): Value {
  let node = v;
  for (const key of chain) {
    if (node === undefined || node === null) throw new Error(`nil pointer evaluating ${what}.${key}`);
    if (!isMap(node)) throw new Error(`can't evaluate field ${key} in ${what}`);
    node = node[key];
  }
  return node;
}

type Fn = (...args: Value[]) => Value;

function urlParse(s: string): Record<string, string> {
  const u = new URL(s);
  return {
    scheme: u.protocol.replace(/:$/, ''),
    host: u.host,
    hostname: u.hostname,
    path: u.pathname === '/' && !/^[a-z]+:\/\/[^/]+\//.test(s) ? '' : u.pathname,
    query: u.search.replace(/^\?/, ''),
    fragment: u.hash.replace(/^#/, ''),
    userinfo: u.username ? `${u.username}${u.password ? `:${u.password}` : ''}` : '',
    opaque: '',
  };
}

function printf(format: string, ...args: Value[]): string {
  let i = 0;
  return format.replace(/%([%sdvq])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[i++];
    if (verb === 'd') return String(Math.trunc(num(a)));
    if (verb === 'q') return JSON.stringify(str(a));
    return str(a);
  });
}

const emptyValue = (v: Value) => !truthy(v);

function functions(exec: (name: string, data: Value) => string): Record<string, Fn> {
  const cmp = (f: (a: number | string, b: number | string) => boolean) => (a: Value, b: Value) =>
    typeof a === 'string' && typeof b === 'string' ? f(a, b) : f(num(a), num(b));
  const eqv = (a: Value, b: Value) =>
    (typeof a === 'number' || a instanceof GoInt) && (typeof b === 'number' || b instanceof GoInt) ? num(a) === num(b) : a === b;
  return {
    include: (name, data) => exec(String(name), data),
    required: (msg, v) => {
      if (v === undefined || v === null || v === '') throw new HelmFail(String(msg));
      return v;
    },
    fail: (msg) => {
      throw new HelmFail(String(msg));
    },
    default: (d, ...rest) => (rest.length && truthy(rest[rest.length - 1]) ? rest[rest.length - 1] : d),
    empty: emptyValue,
    coalesce: (...vs) => vs.find(truthy) ?? null,
    ternary: (a, b, c) => (truthy(c) ? a : b),
    toYaml: (v) => (v === undefined || v === null ? 'null' : stringifyYaml(plain(v), { ...helmYaml, lineWidth: 0 }).replace(/\n$/, '')),
    toJson: (v) => JSON.stringify(plain(v ?? null)),
    toString: (v: Value) => str(v),
    quote: (...vs) =>
      vs
        .filter((v) => v !== undefined && v !== null)
        .map((v) => JSON.stringify(str(v)))
        .join(' '),
    squote: (...vs) =>
      vs
        .filter((v) => v !== undefined && v !== null)
        .map((v) => `'${str(v)}'`)
        .join(' '),
    indent: (n, s) => {
      const pad = ' '.repeat(num(n));
      return pad + str(s).replaceAll('\n', `\n${pad}`);
    },
    nindent: (n, s) => {
      const pad = ' '.repeat(num(n));
      return `\n${pad}${str(s).replaceAll('\n', `\n${pad}`)}`;
    },
    trim: (s) => str(s).trim(),
    trimSuffix: (suffix, s) => (str(s).endsWith(str(suffix)) && str(suffix) ? str(s).slice(0, -str(suffix).length) : str(s)),
    trimPrefix: (prefix, s) => (str(s).startsWith(str(prefix)) ? str(s).slice(str(prefix).length) : str(s)),
    hasPrefix: (prefix, s) => str(s).startsWith(str(prefix)),
    hasSuffix: (suffix, s) => str(s).endsWith(str(suffix)),
    contains: (sub, s) => str(s).includes(str(sub)),
    replace: (from, to, s) => str(s).replaceAll(str(from), str(to)),
    trunc: (n, s) => str(s).slice(0, num(n)),
    lower: (s) => str(s).toLowerCase(),
    upper: (s) => str(s).toUpperCase(),
    printf: (format, ...args) => printf(str(format), ...args),
    print: (...args) => args.map(str).join(''),
    list: (...vs) => [...vs],
    append: (l, v) => [...((l as Value[] | null) ?? []), v],
    concat: (...ls) => ls.flatMap((l) => (l as Value[] | null) ?? []),
    has: (v, l) => ((l as Value[] | null) ?? []).some((x) => eqv(x, v)),
    dict: (...kv) => {
      const out: Record<string, Value> = {};
      for (let i = 0; i < kv.length; i += 2) out[str(kv[i])] = kv[i + 1] ?? '';
      return out;
    },
    hasKey: (m, k) => isMap(m) && str(k) in m,
    get: (m, k) => (isMap(m) && str(k) in m ? m[str(k)] : ''),
    set: (m, k, v) => {
      (m as Record<string, Value>)[str(k)] = v;
      return m;
    },
    omit: (m, ...ks) => Object.fromEntries(Object.entries(m as Record<string, Value>).filter(([k]) => !ks.map(str).includes(k))),
    deepCopy: (v) => structuredClone(v),
    keys: (...ms) => ms.flatMap((m) => Object.keys(m as object)),
    sortAlpha: (l) => [...(l as Value[])].map(str).sort(),
    join: (sep, l) => ((l as Value[] | null) ?? []).map(str).join(str(sep)),
    len: (v) => new GoInt(typeof v === 'string' || Array.isArray(v) ? v.length : isMap(v) ? Object.keys(v).length : 0),
    kindIs: (kind, v) =>
      ({ map: isMap(v), slice: Array.isArray(v), string: typeof v === 'string', bool: typeof v === 'boolean', invalid: v == null })[
        str(kind)
      ] ?? false,
    int: (v) => new GoInt(Math.trunc(num(v))),
    int64: (v) => new GoInt(Math.trunc(num(v))),
    add: (...vs) => new GoInt(vs.reduce((a: number, b) => a + Math.trunc(num(b)), 0)),
    sub: (a, b) => new GoInt(Math.trunc(num(a)) - Math.trunc(num(b))),
    mul: (...vs) => new GoInt(vs.reduce((a: number, b) => a * Math.trunc(num(b)), 1)),
    eq: (a, ...bs) => bs.some((b) => eqv(a, b)),
    ne: (a, b) => !eqv(a, b),
    lt: cmp((a, b) => a < b),
    le: cmp((a, b) => a <= b),
    gt: cmp((a, b) => a > b),
    ge: cmp((a, b) => a >= b),
    not: (v) => !truthy(v),
    urlParse: (s) => urlParse(str(s)),
    sha256sum: (s) => createHash('sha256').update(str(s)).digest('hex'),
    b64enc: (s) => Buffer.from(str(s)).toString('base64'),
  };
}

/** A parsed chart: every template file and every define, ready to execute against values. */
class Engine {
  readonly defines = new Map<string, Node[]>();
  readonly files = new Map<string, Node[]>();
  private readonly fns: Record<string, Fn>;
  private depth = 0;

  constructor(sources: Record<string, string>) {
    // Helm names every file as a template too (oauth3/templates/configmap.yaml), which the checksum annotations include.
    for (const [file, src] of Object.entries(sources)) {
      const nodes = parseTemplate(src, file, this.defines);
      this.files.set(file, nodes);
      this.defines.set(`oauth3/${file}`, nodes);
    }
    this.fns = functions((name, data) => this.include(name, data));
  }

  include(name: string, data: Value): string {
    const body = this.defines.get(name);
    if (!body) throw new Error(`no template "${name}"`);
    if (++this.depth > 100) throw new Error(`include of "${name}" nested too deeply`);
    try {
      const out: string[] = [];
      this.run(body, data, new Scope(undefined), data, out);
      return out.join('');
    } finally {
      this.depth--;
    }
  }

  execute(file: string, data: Value): string {
    const out: string[] = [];
    this.run(this.files.get(file)!, data, new Scope(undefined), data, out);
    return out.join('');
  }

  private run(nodes: Node[], dot: Value, scope: Scope, root: Value, out: string[]) {
    for (const node of nodes) {
      if (node.k === 'text') out.push(node.s);
      else if (node.k === 'out') {
        const v = this.pipe(node.pipe, dot, scope, root);
        if (!node.pipe.decl) out.push(str(v) === '<no value>' ? '' : str(v));
      } else if (node.k === 'if') {
        const inner = new Scope(scope);
        const branch = node.branches.find((b) => truthy(this.pipe(b.pipe, dot, inner, root)));
        this.run(branch ? branch.body : node.otherwise, dot, new Scope(inner), root, out);
      } else if (node.k === 'with') {
        const inner = new Scope(scope);
        const v = this.pipe(node.pipe, dot, inner, root);
        if (truthy(v)) this.run(node.body, v, new Scope(inner), root, out);
        else this.run(node.otherwise, dot, new Scope(inner), root, out);
      } else if (node.k === 'range') {
        const inner = new Scope(scope);
        const decl = node.pipe.decl;
        const v = this.pipe({ cmds: node.pipe.cmds }, dot, inner, root);
        const entries: Array<[Value, Value]> = Array.isArray(v)
          ? v.map((x, i) => [new GoInt(i), x])
          : isMap(v)
            ? Object.keys(v)
                .sort()
                .map((k) => [k, v[k]])
            : v instanceof GoInt
              ? Array.from({ length: v.n }, (_x, i) => [new GoInt(i), new GoInt(i)])
              : [];
        if (!entries.length) this.run(node.otherwise, dot, new Scope(inner), root, out);
        for (const [k, x] of entries) {
          const body = new Scope(inner);
          if (decl?.vars.length === 1) body.declare(decl.vars[0]!, x);
          if (decl?.vars.length === 2) {
            body.declare(decl.vars[0]!, k);
            body.declare(decl.vars[1]!, x);
          }
          this.run(node.body, x, body, root, out);
        }
      } else throw new Error(`unsupported node ${node.k}`);
    }
  }

  private pipe(pipe: Pipe, dot: Value, scope: Scope, root: Value): Value {
    let v: Value = undefined;
    pipe.cmds.forEach((cmd, i) => {
      v = this.command(cmd, dot, scope, root, i > 0 ? { v } : undefined);
    });
    if (pipe.decl) {
      const name = pipe.decl.vars[0]!;
      if (pipe.decl.op === ':=') scope.declare(name, v);
      else scope.assign(name, v);
    }
    return v;
  }

  private arg(a: Arg, dot: Value, scope: Scope, root: Value): Value {
    switch (a.t) {
      case 'dot':
        return field(dot, a.chain, '.');
      case 'var':
        return field(a.name === '$' ? root : scope.get(a.name), a.chain, a.name);
      case 'lit':
        return a.value;
      case 'paren':
        return field(this.pipe(a.pipe, dot, scope, root), a.chain, '(…)');
      case 'ident':
        return this.call(a.name, [], dot, scope, root);
    }
  }

  private call(name: string, args: Arg[], dot: Value, scope: Scope, root: Value, piped?: { v: Value }): Value {
    // and/or evaluate lazily and return an operand, as Go's do.
    if (name === 'and' || name === 'or') {
      let last: Value;
      const all = [...args.map((a) => () => this.arg(a, dot, scope, root)), ...(piped ? [() => piped.v] : [])];
      for (const get of all) {
        last = get();
        if (name === 'and' ? !truthy(last) : truthy(last)) return last;
      }
      return last;
    }
    const fn = this.fns[name];
    if (!fn) throw new Error(`function "${name}" not defined (or not supported by this renderer)`);
    const values = args.map((a) => this.arg(a, dot, scope, root));
    if (piped) values.push(piped.v);
    return fn(...values);
  }

  private command(cmd: Arg[], dot: Value, scope: Scope, root: Value, piped?: { v: Value }): Value {
    const [head, ...rest] = cmd;
    if (!head) throw new Error('empty command');
    if (head.t === 'ident') return this.call(head.name, rest, dot, scope, root, piped);
    if (rest.length || piped) {
      const target = this.arg(head, dot, scope, root);
      if (typeof target !== 'function') throw new Error(`can't give arguments to a non-function`);
      const values = rest.map((a) => this.arg(a, dot, scope, root));
      if (piped) values.push(piped.v);
      return (target as Fn)(...values);
    }
    return this.arg(head, dot, scope, root);
  }
}

/* ------------------------------------------------------------------ the chart ------------------------------------------------------------------ */

/** Helm's value coalescing: maps merge key by key, anything else replaces, and null removes the default. */
export function coalesce(base: unknown, over: unknown): unknown {
  if (isMap(over) && isMap(base)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) {
      if (v === null) delete out[k];
      else out[k] = coalesce(out[k], v);
    }
    return out;
  }
  return structuredClone(over);
}

export interface Manifest {
  /** Template file it came from, such as templates/deployment.yaml. */
  source: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; namespace?: string };
  [key: string]: unknown;
}

export interface Rendered {
  manifests: Manifest[];
  notes: string;
  /** The manifest of this kind and name; throws when absent, so a test reads what it expects to exist. */
  get(kind: string, name: string): Manifest;
  /** The manifest of this kind and name, or undefined. */
  find(kind: string, name: string): Manifest | undefined;
  ofKind(kind: string): Manifest[];
}

export class ChartError extends Error {}

/** Reads the chart in `dir` and returns a renderer: values (a patch over values.yaml, as -f) to manifests. */
export function loadChart(dir: string) {
  const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
  const chartMeta = parseYaml(read('Chart.yaml'), helmYaml) as Record<string, string>;
  const defaults = parseYaml(read('values.yaml'), helmYaml) as Record<string, unknown>;
  const schema = JSON.parse(read('values.schema.json')) as Schema;
  const sources: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const e of readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.posix.join(sub, e.name);
      if (e.isDirectory()) walk(rel);
      else sources[rel] = readFileSync(path.join(dir, rel), 'utf8');
    }
  };
  walk('templates');
  const engine = new Engine(sources);

  return function render(patch: Record<string, unknown> = {}, release = { name: 'auth', namespace: 'oauth3' }): Rendered {
    const values = coalesce(defaults, patch) as Record<string, unknown>;
    const problems = validate(schema, values);
    if (problems.length) throw new ChartError(`values don't meet the schema:\n${problems.join('\n')}`);
    const top = {
      Values: values,
      Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm', IsInstall: true, IsUpgrade: false, Revision: 1 },
      Chart: { Name: chartMeta.name, Version: chartMeta.version, AppVersion: chartMeta.appVersion },
      Capabilities: { KubeVersion: { Version: 'v1.30.0', Major: '1', Minor: '30' } },
      Template: { BasePath: 'oauth3/templates', Name: '' },
    };
    const manifests: Manifest[] = [];
    let notes = '';
    for (const file of [...engine.files.keys()].sort()) {
      const base = path.posix.basename(file);
      if (base.startsWith('_')) continue;
      let text: string;
      try {
        text = engine.execute(file, { ...top, Template: { ...top.Template, Name: `oauth3/${file}` } });
      } catch (e) {
        if (e instanceof HelmFail) throw new ChartError(`${file}: ${e.message}`);
        throw e;
      }
      if (base === 'NOTES.txt') {
        notes = text;
        continue;
      }
      for (const m of readManifests(text, file)) manifests.push({ ...m, source: file });
    }
    const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
    return {
      manifests,
      notes,
      find,
      get: (kind, name) => {
        const m = find(kind, name);
        if (!m) throw new Error(`no ${kind} ${name}; rendered: ${manifests.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
        return m;
      },
      ofKind: (kind) => manifests.filter((m) => m.kind === kind),
    };
  };
}

/* ------------------------------------------------------------------ typed views for tests ------------------------------------------------------------------ */

export type Labels = Record<string, string>;
export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}
export interface Container {
  name: string;
  image?: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  resources?: unknown;
  securityContext?: Record<string, unknown>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
export interface PodSpec {
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
  containers: Container[];
  volumes?: Array<{ name: string; [key: string]: unknown }>;
  topologySpreadConstraints?: Array<{ maxSkew: number; topologyKey: string; whenUnsatisfiable: string; labelSelector?: LabelSelector }>;
}
export interface Peer {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}
export interface PolicyRule {
  ports?: Array<{ port: number | string; protocol?: string }>;
  from?: Peer[];
  to?: Peer[];
}
export interface NetworkPolicySpec {
  podSelector: LabelSelector;
  policyTypes: string[];
  ingress?: PolicyRule[];
  egress?: PolicyRule[];
}

/** The pod template (labels and spec) of a Deployment, Job, CronJob or Pod. */
export function podOf(m: Manifest): { labels: Labels; spec: PodSpec } {
  const spec = m.spec as Record<string, unknown>;
  type Template = { metadata?: { labels?: Labels }; spec: PodSpec };
  if (m.kind === 'Pod') return { labels: m.metadata.labels ?? {}, spec: spec as unknown as PodSpec };
  const template =
    m.kind === 'CronJob'
      ? (spec.jobTemplate as { spec: { template: Template } }).spec.template
      : m.kind === 'Deployment' || m.kind === 'Job'
        ? (spec.template as Template)
        : undefined;
  if (!template) throw new Error(`${m.kind} has no pod template`);
  return { labels: template.metadata?.labels ?? {}, spec: template.spec };
}

/** Whether a Kubernetes label selector selects these labels (an empty selector selects everything). */
export function selects(selector: LabelSelector, labels: Labels): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => {
    const has = e.key in labels;
    if (e.operator === 'Exists') return has;
    if (e.operator === 'DoesNotExist') return !has;
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    return e.operator === 'In' ? inValues : !inValues;
  });
  return byLabels && byExpressions;
}
