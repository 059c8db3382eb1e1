"""``python -m agentauthz.adapters TOOLS.json``: a Cedar schema fragment for an MCP tool list."""

from .schema import main

if __name__ == "__main__":
    raise SystemExit(main())
