"""MCP tool servers: the client, the tool policy, the runner with consent and audit."""
