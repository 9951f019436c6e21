import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * What the two profile summaries share (bench/profile-summary.ts for CPU, bench/heap-summary.ts for allocations): the
 * profile files named on their command line, their options, and the names and places of V8's frames.
 */

/** A function as V8's profilers name it (CPU and heap profiles alike). */
export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/** Where a frame's code lives: a package, a folder of ours, Node itself, or V8's own entries. */
export function placeOf({ url, functionName }: CallFrame): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [scope, name] = url.slice(modules + 14).split('/');
    return scope!.startsWith('@') ? `${scope}/${name}` : scope!;
  }
  const ours = /\/(src|adapters|interactions|scopes|bench)\/(.*)$/.exec(url);
  return ours ? `${ours[1]}/${ours[2]!.split('/').slice(0, -1).join('/') || '.'}` : url;
}

/** A frame as one line: its name and where it is, node_modules' path left out. */
export const frameName = ({ functionName, url, lineNumber }: CallFrame): string =>
  `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/node_modules\//, '')}:${lineNumber + 1}` : ''}`;

/**
 * The files with `extension` among `targets` (files, or folders searched through). A target that does not exist, or
 * targets holding no such file, are refused with a message saying so.
 */
export function profileFiles(targets: string[], extension: string): string[] {
  if (targets.length === 0) throw new Error(`Name the ${extension} files, or the folders holding them.`);
  const missing = targets.find((target) => !existsSync(target));
  if (missing) throw new Error(`No such file or folder: ${missing}`);
  const within = (target: string): string[] =>
    statSync(target).isDirectory()
      ? readdirSync(target).flatMap((entry) => within(path.join(target, entry)))
      : target.endsWith(extension)
        ? [target]
        : [];
  const files = targets.flatMap(within);
  if (files.length === 0) throw new Error(`No ${extension} file in ${targets.join(', ')}`);
  return files;
}

/** `--<name>=<number>` among `args`, `fallback` when absent; anything but a number that is not negative is refused. */
export function numberOption(args: string[], name: string, fallback: number): number {
  const given = args.find((arg) => arg.startsWith(`--${name}=`));
  if (given === undefined) return fallback;
  const value = Number(given.slice(name.length + 3));
  if (given.length === name.length + 3 || !Number.isFinite(value) || value < 0) {
    throw new Error(`--${name} takes a number of 0 or more, not "${given.slice(name.length + 3)}"`);
  }
  return value;
}
