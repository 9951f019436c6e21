import type { ApiCallDoc } from '../plugin.js';

/** The X routes (./routes.ts) as developers read about them in skill documents and the playground. */
export const twitterDocs: ApiCallDoc[] = [
  {
    method: 'POST',
    path: '/tweet',
    scope: 'tweet.post',
    summary: 'Posts on X as the owner (201 `{id, text}`; `reply_to` and `quote` take post ids).',
    body: { text: 'Hello from my agent' },
  },
  { method: 'DELETE', path: '/tweet/:id', scope: 'tweet.delete', summary: "Deletes one of the owner's posts." },
  { method: 'GET', path: '/me', scope: 'tweet.read', summary: "The owner's connected X profile (`{id, username, name}`)." },
  { method: 'GET', path: '/tweets?limit=10', scope: 'tweet.read', summary: "The owner's recent posts (limit 1 to 100)." },
];
