import { z } from 'zod';
import type { Settings } from '../../setting.js';

export const telegramSettings = {
  TELEGRAM_API_ROOT: {
    schema: z
      .url({ protocol: /^https?$/ })
      .default('https://api.telegram.org')
      .transform((v) => v.replace(/\/+$/, '')),
    doc: 'Telegram Bot API root (tests point it at a fake on 127.0.0.1).',
    fix: 'use a URL such as https://api.telegram.org',
  },
} satisfies Settings;
