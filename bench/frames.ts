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
