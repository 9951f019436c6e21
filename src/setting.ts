import type { z } from 'zod';

/** One environment variable: its schema, the README's words for it, and how to fix a bad value. */
export interface Setting {
  schema: z.ZodType;
  doc: string;
  fix: string;
}

/** Settings by the environment variable that holds each (src/config.ts; a plugin's own in its settings.ts). */
export type Settings = Record<string, Setting>;
