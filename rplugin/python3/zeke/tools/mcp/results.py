"""What a server's tool answers mean: the tools it offers and the result of a call.

Servers fill these loosely (missing schemas, descriptions that are not strings,
content parts of every kind), so parsing keeps what it can read and turns the rest
into placeholders rather than failing the call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from zeke.tools.mcp.wire import MCPError


@dataclass
class ToolInfo:
    """One tool as the server describes it."""

    name: str
    description: str
    input_schema: dict


@dataclass
class ToolResult:
    """A ``tools/call`` result. ``is_error`` is the server's ``isError`` (a tool
    failure is an answer, not an exception); ``raw`` is the result object as sent."""

    text: str
    is_error: bool
    raw: dict


def tool_result(label: str, name: str, result: Any) -> ToolResult:
    if not isinstance(result, dict):
        raise MCPError(f"{label}: tool {name} returned a malformed result.", kind="stream")
    parts: list[str] = []
    content = result.get("content")
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text" and isinstance(item.get("text"), str):
            parts.append(item["text"])
        elif kind == "resource" and isinstance(item.get("resource"), dict):
            res = item["resource"]
            parts.append(
                res["text"]
                if isinstance(res.get("text"), str)
                else f"[resource {res.get('uri', '')}]"
            )
        elif kind == "resource_link":
            parts.append(f"[resource {item.get('uri', '')}]")
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {item.get('mimeType', '')}]".replace(" ]", "]"))
    if not parts and result.get("structuredContent") is not None:
        parts.append(json.dumps(result["structuredContent"], ensure_ascii=False))
    return ToolResult(text="\n".join(parts), is_error=result.get("isError") is True, raw=result)


def parse_tools(result: Any) -> tuple[list[ToolInfo], str | None]:
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        raise MCPError("The tool server's tools/list answer has no tools list.", kind="stream")
    tools = []
    for item in result["tools"]:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        schema = item.get("inputSchema")
        desc = item.get("description")
        tools.append(
            ToolInfo(
                name=item["name"],
                description=desc if isinstance(desc, str) else "",
                input_schema=schema
                if isinstance(schema, dict)
                else {"type": "object", "properties": {}},
            )
        )
    cursor = result.get("nextCursor")
    return tools, cursor if isinstance(cursor, str) and cursor else None
