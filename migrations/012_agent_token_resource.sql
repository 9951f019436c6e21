-- Which of oauth3's protected resources an agent token is for (RFC 8707 audience): the resource API (`api`, every
-- token minted before this) or the MCP server (`mcp`). Shown in the console; the token itself carries its audience.
ALTER TABLE agent_tokens ADD COLUMN resource text NOT NULL DEFAULT 'api' CHECK (resource IN ('api', 'mcp'));
