import { describe, expect, it } from '@jest/globals';

/**
 * Times in pages (src/web/time.ts). A date formatter maps megabytes of Node's locale data into memory, so one is made
 * at the first page that shows a time, never by loading the module: a server answering only tokens and API calls
 * loads it without one.
 */
describe('times in pages', () => {
  it('says a moment and a day in UTC words, with a formatter made at first use and kept', async () => {
    const made: unknown[] = [];
    const { DateTimeFormat } = Intl;
    Intl.DateTimeFormat = new Proxy(DateTimeFormat, {
      construct(target, args: ConstructorParameters<typeof DateTimeFormat>) {
        made.push(args);
        return new target(...args);
      },
    });
    try {
      const { utcText, dayText, timeTag, dayTag } = await import('../../src/web/time.js');
      expect(made).toEqual([]);
      expect(utcText(new Date('2026-12-06T14:05:00Z'))).toBe('6 Dec 2026, 14:05 UTC');
      expect(String(timeTag('2026-12-07T09:30:00Z'))).toBe(
        '<time datetime="2026-12-07T09:30:00.000Z" title="7 Dec 2026, 09:30 UTC" data-time="relative">7 Dec 2026, 09:30 UTC</time>',
      );
      expect(dayText('2026-12-06')).toBe('6 Dec 2026');
      expect(String(dayTag('2026-12-07'))).toBe('<time datetime="2026-12-07">7 Dec 2026</time>');
      expect(dayText('not a day')).toBe('not a day');
      expect(String(timeTag(null))).toBe('—');
      expect(made).toHaveLength(2);
    } finally {
      Intl.DateTimeFormat = DateTimeFormat;
    }
  });
});
