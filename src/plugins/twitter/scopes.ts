import type { ScopeDefinition } from '../../../scopes/catalog.js';

/**
 * The X scopes, in the words the consent screen shows. tweet.read and tweet.post keep the wording they had in the core
 * catalog (so a scope registered by both stays identical); deleting is its own scope, since an app that may post
 * should not also be able to erase the owner's history.
 */
export const twitterScopes: ScopeDefinition[] = [
  {
    name: 'tweet.read',
    kind: 'resource',
    access: 'read',
    title: 'Read your posts on X',
    description: 'See your X profile and your recent posts.',
  },
  {
    name: 'tweet.post',
    kind: 'resource',
    access: 'write',
    title: 'Post on X as you',
    description: 'Publish posts, replies and quotes on your X account, within the limits you set.',
  },
  {
    name: 'tweet.delete',
    kind: 'resource',
    access: 'write',
    title: 'Delete your posts on X',
    description: 'Delete posts from your X account, including ones you wrote yourself.',
  },
];
