import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { numberOption, profileFiles } from '../../bench/profiles.js';

/** The command lines of bench/profile-summary.ts and bench/heap-summary.ts: what they read, and what they refuse. */
describe('profile summaries’ command line', () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'oauth3-profiles-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('finds the profiles of one kind in files and folders, nested ones too', () => {
    mkdirSync(path.join(folder, 'round-1'));
    for (const name of ['a.heapprofile', 'round-1/b.heapprofile', 'round-1/c.cpuprofile', 'notes.txt']) {
      writeFileSync(path.join(folder, name), '{}');
    }
    expect(profileFiles([folder], '.heapprofile').sort()).toEqual([
      path.join(folder, 'a.heapprofile'),
      path.join(folder, 'round-1/b.heapprofile'),
    ]);
    expect(profileFiles([path.join(folder, 'round-1/c.cpuprofile')], '.cpuprofile')).toEqual([path.join(folder, 'round-1/c.cpuprofile')]);
  });

  it('refuses nothing named, a path that is not there, and places holding no such profile, saying which', () => {
    expect(() => profileFiles([], '.cpuprofile')).toThrow('Name the .cpuprofile files, or the folders holding them.');
    expect(() => profileFiles([folder, '/no/such/place'], '.heapprofile')).toThrow('No such file or folder: /no/such/place');
    expect(() => profileFiles([path.join(folder, 'notes.txt')], '.heapprofile')).toThrow(
      `No .heapprofile file in ${path.join(folder, 'notes.txt')}`,
    );
  });

  it('reads a numeric option, its default when absent, and refuses anything else', () => {
    expect(numberOption(['x.cpuprofile', '--skip=4.5'], 'skip', 0)).toBe(4.5);
    expect(numberOption(['--top=10'], 'skip', 0)).toBe(0);
    for (const bad of ['--top=ten', '--top=', '--top=-1', '--top=Infinity']) {
      expect(() => numberOption([bad], 'top', 25)).toThrow(`--top takes a number of 0 or more, not "${bad.slice(6)}"`);
    }
  });
});
