import { describe, expect, it } from '@jest/globals';
import { toolsNeededBy } from '../../src/resource/mcp/endpoint.js';
import type { Tool } from '../../src/plugins/plugin.js';

/** The tools the MCP server built for one request holds: a call needs only its tool, everything else every tool. */
describe('the tools a request needs', () => {
  const tool = (name: string) => ({ name }) as Tool;
  const tools = [tool('get_me'), tool('post_tweet'), tool('send_telegram_message')];
  const message = (method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id: 1, method, params });

  it('is the called tool alone for a tools/call of a tool the server has', () => {
    expect(toolsNeededBy(message('tools/call', { name: 'post_tweet', arguments: {} }), tools)).toEqual([tool('post_tweet')]);
  });

  it('is every tool for anything else: a list, initialisation, an unknown tool, a nameless call, a batch, no body', () => {
    for (const body of [
      message('tools/list'),
      message('initialize'),
      message('tools/call', { name: 'no_such_tool' }),
      message('tools/call', { name: 42 }),
      message('tools/call'),
      [message('tools/call', { name: 'post_tweet' })],
      undefined,
      'tools/call',
    ]) {
      expect(toolsNeededBy(body, tools)).toBe(tools);
    }
  });
});
