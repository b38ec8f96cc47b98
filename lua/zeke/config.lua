--- zeke.nvim configuration: one schema drives the defaults, the validation and
--- the documentation. It is their only home: `make doc` generates the
--- `*zeke-config*` section of doc/zeke.txt and the Python host's defaults.json
--- from it (the tests check both are current), and the host receives the
--- validated table unchanged.
---
--- Sources, low to high: the defaults below, `vim.g.zeke` (a table), then the
--- opts given to `require("zeke").setup()`. Validation happens once, when the
--- config is (re)built, and every message names the offending key in full
--- (`omen.budget_usd`, `ui.width`). A bad value never reaches the commands: its
--- default is used instead.

local util = require("zeke.util")

local M = {}

---@class zeke.AliasSpec
---@field provider? string
---@field model? string
---@field tags? table<string, string>

---@class zeke.Config
---@field api_base string
---@field api_key_env string[]
---@field ollama_host string
---@field fallback "ollama"|false
---@field python? string
---@field prestart "visual"|"idle"|false
---@field alias string
---@field aliases table<string, zeke.AliasSpec>
---@field tags table<string, string>
---@field project? string|{ name?: string, root?: string }
---@field omen? table
---@field glyph? table
---@field consent "ask"|"allow"|fun(tool: string, args: table): boolean
---@field db_path string
---@field context_lines integer
---@field max_context_tokens integer
---@field timeouts { connect: number, first_byte: number, read: number, tool: number }
---@field ui { layout: "vsplit"|"split"|"tab", width: number, focus: boolean, why_key: string|false }
---@field test_paths table<string, string>
---@field tools { enable: string[], max_turns: integer }
---@field log_level "debug"|"info"|"warn"|"error"
---@field history { enabled: boolean, max_entries: integer }|false

-- Private helpers --------------------------------------------------------------
-- A check returns ok, and may return why (a few words for the message) when not.

local function is_list_of_strings(v)
  if type(v) ~= "table" then
    return false
  end
  for k, item in pairs(v) do
    if type(k) ~= "number" or type(item) ~= "string" then
      return false
    end
  end
  return true
end

local function is_string_map(v)
  if type(v) ~= "table" then
    return false
  end
  for k, item in pairs(v) do
    local t = type(item)
    if type(k) ~= "string" or (t ~= "string" and t ~= "number" and t ~= "boolean") then
      return false
    end
    if t == "number" and not util.is_finite(item) then
      return false, "a number in it is NaN or infinite"
    end
  end
  return true
end

local function one_of(...)
  local allowed = { ... }
  return function(v)
    return vim.tbl_contains(allowed, v)
  end,
    "one of " .. table.concat(
      vim.tbl_map(function(a)
        return vim.inspect(a)
      end, allowed),
      ", "
    )
end

local function http_url(v)
  return util.check_url(v, { "http", "https" })
end

local function positive_integer(v)
  -- math.huge passes floor(v) == v, but the host cannot make an integer of it
  return util.is_whole(v, 0)
end

--- A finite number >= lo (> lo when strict).
local function number_from(lo, strict)
  return function(v)
    if type(v) ~= "number" then
      return false
    end
    if not util.is_finite(v) then
      return false, "NaN and infinite numbers are not allowed"
    end
    return (strict and v > lo) or (not strict and v >= lo)
  end
end

local function alias_table(v)
  if type(v) ~= "table" then
    return false
  end
  if not util.all_finite(v) then
    return false, "NaN and infinite numbers are not allowed"
  end
  for name, spec in pairs(v) do
    if type(name) ~= "string" or type(spec) ~= "table" then
      return false
    end
    if spec.provider ~= nil and type(spec.provider) ~= "string" then
      return false
    end
    if spec.model ~= nil and type(spec.model) ~= "string" then
      return false
    end
    if spec.tags ~= nil and not is_string_map(spec.tags) then
      return false
    end
  end
  return true
end

--- The check of a table key made of named fields: a table whose fields (those
--- present) each pass their own check, then `whole` (cross-field rules). Only
--- the named fields are allowed, and any other when `fields["*"]` says how.
---@param fields table<string, {check: fun(v: any): boolean, string|nil, expects: string}>
---@param optional boolean  nil is a valid value (the key is unset)
---@param whole? fun(v: table): boolean, string|nil
local function table_of(fields, optional, whole)
  return function(v)
    if v == nil then
      return optional
    end
    if type(v) ~= "table" then
      return false
    end
    for k, item in pairs(v) do
      if type(k) ~= "string" then
        return false, "every entry needs a name"
      end
      local field = fields[k] or fields["*"]
      if not field then
        return false, ("%s is not one of its fields"):format(k)
      end
      local ok, why = field.check(item)
      if not ok then
        return false, ("%s: %s"):format(k, why or ("must be " .. field.expects))
      end
    end
    if whole then
      return whole(v)
    end
    return true
  end
end

-- Schema -----------------------------------------------------------------------

local fallback_ok, fallback_desc = one_of("ollama", false)
local consent_check = function(v)
  return v == "ask" or v == "allow" or type(v) == "function"
end
local strategy_ok, strategy_desc = one_of("single", "race", "speculate_k", "parallel_merge")
local layout_ok, layout_desc = one_of("vsplit", "split", "tab")

local function seconds(doc)
  return { check = number_from(0, true), expects = "a number of seconds > 0", doc = doc }
end

local OMEN_FIELDS = {
  strategy = {
    check = strategy_ok,
    expects = strategy_desc,
    doc = "one of `single`, `race`, `speculate_k`, `parallel_merge`. Note: with `race`, OMEN applies "
      .. "`max_latency_ms` to the whole stream, so long answers are cut off.",
  },
  k = {
    check = function(v)
      return util.is_whole(v, 1)
    end,
    expects = "a whole number >= 1",
    doc = "a whole number >= 1.",
  },
  providers = { check = is_list_of_strings, expects = "a list of provider names", doc = "a list of provider names." },
  budget_usd = {
    check = number_from(0),
    expects = "a number of US dollars >= 0",
    doc = "a number of US dollars >= 0.",
  },
  max_latency_ms = {
    check = number_from(0, true),
    expects = "a number of milliseconds > 0",
    doc = "a number of milliseconds > 0.",
  },
  stickiness = {
    check = function(v)
      return type(v) == "string"
    end,
    expects = "a string",
    doc = "a string.",
  },
  -- anything else is passed on to the router as JSON, which has no NaN or inf
  ["*"] = {
    check = function(v)
      return util.all_finite(v), "NaN and infinite numbers are not allowed"
    end,
    expects = "a value without NaN or infinite numbers",
    doc = "passed on as they are (as JSON: no NaN or infinity).",
  },
}

local GLYPH_FIELDS = {
  cmd = {
    check = function(v)
      return is_list_of_strings(v) and #v > 0
    end,
    expects = 'a command list such as {"glyph","serve","--transport","stdio"}',
    doc = "the command of a server spoken to on stdio, a list of strings.",
  },
  url = {
    check = function(v)
      return util.check_url(v, { "ws", "wss", "http", "https" })
    end,
    expects = 'a ws(s):// or http(s):// URL such as "ws://127.0.0.1:7331"',
    doc = "a WebSocket or streamable HTTP URL, with a host and, when one is given, a port from 1 to 65535.",
  },
  name = {
    check = function(v)
      return type(v) == "string" and v ~= ""
    end,
    expects = "a name for the audit and messages",
    doc = "(optional) what the audit and messages call the server; by default its package "
      .. "(`npx` argument, `python -m` module, the `package.json` above a `node` script) or the program's name.",
  },
  env = {
    check = function(v)
      if type(v) ~= "table" then
        return false
      end
      for k, item in pairs(v) do
        if type(k) ~= "string" or type(item) ~= "string" then
          return false
        end
      end
      return true
    end,
    expects = "a table of environment variable = string",
    doc = "(optional) a table of strings added to the environment of a `cmd` server.",
  },
}

local UI_FIELDS = {
  layout = {
    check = layout_ok,
    expects = layout_desc,
    doc = '`"vsplit"`, `"split"` or `"tab"`.',
  },
  width = {
    check = function(v)
      if type(v) ~= "number" then
        return false
      end
      if not util.is_finite(v) then
        return false, "NaN and infinite numbers are not allowed"
      end
      if v > 0 and v <= 1 then
        return true -- a fraction of the screen
      end
      if v > 1 and not util.is_whole(v, 1) then
        return false, "above 1 it is a number of columns, a whole number"
      end
      return v >= 1
    end,
    expects = "a fraction of the screen (0 < width <= 1) or a whole number of columns (lines for split)",
    doc = "a fraction of the screen (0 < width <= 1, so `1` is the whole screen) or a whole number of "
      .. 'columns (lines for `"split"`), at most the screen\'s size.',
  },
  focus = {
    check = function(v)
      return type(v) == "boolean"
    end,
    expects = "true or false",
    doc = "`true` moves the cursor into the answer window.",
  },
  why_key = {
    check = function(v)
      return v == false or (type(v) == "string" and v ~= "" and not v:find("%c"))
    end,
    expects = 'a key (a string such as "gR") or false',
    doc = "the answer buffer's key for |:ZekeWhy|, the routing receipt (`false`: none).",
  },
  followup_key = {
    check = function(v)
      return v == false or (type(v) == "string" and v ~= "" and not v:find("%c"))
    end,
    expects = 'a key (a string such as "f") or false',
    doc = "the key in an answer buffer that asks for a follow-up (|:ZekeFollowup|); `false`: none.",
  },
}

local TIMEOUT_FIELDS = {
  connect = seconds("connecting."),
  first_byte = seconds("waiting for the answer to start."),
  read = seconds(
    "the longest pause between two pieces of a streaming answer. There is no limit on the total time "
      .. "of an answer that keeps arriving."
  ),
  tool = seconds("how long one call to the tool server (`glyph`) may take."),
}

local TOOLS_FIELDS = {
  enable = {
    check = is_list_of_strings,
    expects = "a list of tool names",
    doc = "destructive tools to offer the model besides the reading and writing ones, for example "
      .. '`{ "delete_file" }` (|zeke-consent|).',
  },
  max_turns = {
    check = function(v)
      return util.is_whole(v, 1)
    end,
    expects = "a whole number >= 1",
    doc = "how many rounds of tool calls one request may take (a whole number >= 1).",
  },
}

local HISTORY_FIELDS = {
  enabled = {
    check = function(v)
      return type(v) == "boolean"
    end,
    expects = "true or false",
    doc = "`false` keeps nothing (the same as `history = false`).",
  },
  max_entries = {
    check = function(v)
      return util.is_whole(v, 1)
    end,
    expects = "a whole number >= 1",
    doc = "how many requests are kept, over all projects; the oldest go first.",
  },
}

--- A default read from the environment: the variable's value (a bare host:port
--- given `bare` in front, as Ollama itself allows), else the fallback.
local function from_env(var, fallback, bare)
  return function()
    local value = os.getenv(var)
    if value == nil then
      return fallback
    end
    if bare and value ~= "" and not value:match("^https?://") then
      value = bare .. value
    end
    return value -- an empty one is reported by check_env_defaults
  end
end

---@alias zeke.DocPart string|{ lua: string }  prose (wrapped) or an example block

--- Every key: its default (a function when computed at load time), a check, what
--- the check expects (for messages), the type shown in the help (`type`) and its
--- help text (`doc`, prose and `{ lua = ... }` examples). A table key made of
--- named fields lists them in `fields` (each with its own check, expects and
--- doc): each is checked on its own, and a bad one is reported as `key.field`
--- and replaced by its default. A default read from the environment (`env`) is
--- checked too; `fallback` replaces it when it is not usable, and is also the
--- default outside Neovim (`make doc` writes the defaults for the Python host).
--- `stdpath` is a default under one of Neovim's standard directories. `shown`
--- is how the help shows a default that is computed.
---@type table<string, {default: any, check: fun(v: any): boolean, string|nil, expects: string,
---  type: string, doc: zeke.DocPart[], fields?: table, env?: string, fallback?: any, bare?: string,
---  stdpath?: string[], shown?: string}>
M.schema = {
  api_base = {
    default = from_env("ZEKE_API_BASE", "http://127.0.0.1:8080/v1"),
    env = "ZEKE_API_BASE",
    fallback = "http://127.0.0.1:8080/v1",
    check = http_url,
    expects = "an http(s) URL such as http://127.0.0.1:8080/v1",
    type = "string",
    doc = {
      "OMEN's (or any OpenAI-compatible server's) base URL. zeke posts to `{api_base}/chat/completions`, "
        .. "reads prices from `{api_base}/models` and checks the router with `/ready` beside it. It must be "
        .. "an `http://` or `https://` URL with a host and, when one is given, a port from 1 to 65535 "
        .. "(a bad `$ZEKE_API_BASE` is reported too).",
    },
  },
  api_key_env = {
    default = { "ZEKE_API_KEY", "OMEN_API_KEY" },
    check = is_list_of_strings,
    expects = "a list of environment variable names",
    type = "list of strings",
    doc = {
      "Environment variables holding the router's key; the first one set is sent as "
        .. "`Authorization: Bearer`. Read at request time, never logged, never passed on a command line.",
    },
  },
  ollama_host = {
    default = from_env("OLLAMA_HOST", "http://127.0.0.1:11434", "http://"),
    env = "OLLAMA_HOST",
    fallback = "http://127.0.0.1:11434",
    bare = "http://",
    check = http_url,
    expects = "an http(s) URL such as http://127.0.0.1:11434",
    type = "string",
    doc = {
      "The local Ollama, used directly only in |zeke-degraded| mode. A bare `host:port` in "
        .. "`$OLLAMA_HOST` gets `http://` in front. Checked like |zeke-config-api_base|.",
    },
  },
  fallback = {
    default = "ollama",
    check = fallback_ok,
    expects = fallback_desc,
    type = '`"ollama"` or `false`',
    doc = {
      '`"ollama"`: stream from Ollama when OMEN is unreachable (|zeke-degraded|). '
        .. "`false`: no degraded mode; the error is shown.",
    },
  },
  python = {
    default = nil,
    check = function(v)
      return v == nil or type(v) == "string"
    end,
    expects = "a path to a Python interpreter",
    type = "string or nil",
    doc = {
      "The interpreter that runs zeke's Python host. nil: the virtual environment `make install` made "
        .. "in the plugin directory (`.venv/bin/python`). An interpreter of your own needs `pynvim`, "
        .. "`httpx`, `anyio` and `msgpack`.",
    },
  },
  prestart = {
    default = "visual",
    check = function(v)
      return v == "visual" or v == "idle" or v == false
    end,
    expects = '"visual", "idle" or false',
    type = '`"visual"`, `"idle"` or `false`',
    doc = {
      "When the Python host starts before the first command, so that command does not wait for it "
        .. '(about 0.2–0.4 s): `"visual"` on the first entry into Visual mode (you select code before '
        .. 'most commands); `"idle"` one second after Neovim started; `false` at the first command. '
        .. "A started host costs about 40 MB of memory for the rest of the session, whether or not "
        .. "zeke is used.",
    },
  },
  alias = {
    default = "auto",
    check = function(v)
      return type(v) == "string" and v ~= ""
    end,
    expects = "an alias name",
    type = "string",
    doc = {
      'The default alias: `"auto"` lets the router choose the model, or a name from '
        .. "|zeke-config-aliases|. A per-project choice made with |:ZekeModel| wins.",
    },
  },
  aliases = {
    default = {
      ["code-fast"] = { provider = "ollama", model = "deepseek-coder:14b", tags = { latency = "low" } },
      ["code-plus"] = { provider = "ollama", model = "deepseek-coder:33b" },
      ["code-smart"] = { provider = "azure", model = "gpt-5-codex" },
      ["reason-deep"] = { provider = "anthropic", model = "claude-3-5-sonnet", tags = { budget = "generous" } },
    },
    check = alias_table,
    expects = "a table of alias = { provider = string, model = string, tags = { key = string } }",
    type = "table",
    doc = {
      "Alias name to `{ provider, model, tags }`. zeke sends the alias name as `model` and lets the "
        .. "router resolve it; a router that answers it does not know the name gets one retry with the "
        .. "alias's `model` (or, for `auto`, a model chosen by intent), used for 5 minutes on that "
        .. "endpoint (|zeke-troubleshooting|). `model` names who answered when the router does not say "
        .. "and lists it; `provider` is never shown as a fact, and an alias whose `provider` is "
        .. '`"ollama"` names the model for |zeke-degraded| mode. Yours are merged over these; `tags` are '
        .. "routing hints (|zeke-request|) whose values are strings, numbers or booleans.",
    },
  },
  tags = {
    default = { latency = "normal", budget = "normal" },
    check = is_string_map,
    expects = "a table of string keys to string values",
    type = "table",
    doc = {
      "Routing hint tags sent with every request, under the alias's and the command's (|zeke-request|). "
        .. "Values are strings, numbers or booleans, and are sent as strings.",
    },
  },
  project = {
    default = nil,
    check = function(v)
      if v == nil or (type(v) == "string" and v ~= "") then
        return true
      end
      if type(v) ~= "table" or vim.islist(v) then
        return false
      end
      for k, item in pairs(v) do
        if (k ~= "name" and k ~= "root") or type(item) ~= "string" or item == "" then
          return false
        end
      end
      return true
    end,
    expects = 'a project name, or { name = "…", root = "/path/to/project" }',
    type = "string, table or nil",
    doc = {
      "The project name used in tags, headers, stats and the per-project alias. nil: the name of the "
        .. "git root's directory, else the current directory's name. A table also sets where the "
        .. "project is:",
      { lua = 'project = { name = "notes", root = "~/notes" }' },
      "`root` is the project root for tool calls and writes (see |zeke-consent|); either field may be "
        .. "left out. Without a `root` and outside any git repository there is no project root, and "
        .. "tools are off.",
    },
  },
  omen = {
    default = nil,
    fields = OMEN_FIELDS,
    check = table_of(OMEN_FIELDS, true),
    expects = "{ strategy = single|race|speculate_k|parallel_merge, k = n, providers = {..}, "
      .. "budget_usd = n, max_latency_ms = n, stickiness = s }",
    type = "table or nil",
    doc = {
      "An OMEN strategy object sent with each request (not sent when nil), for example:",
      {
        lua = 'omen = { strategy = "speculate_k", k = 2,\n'
          .. '         providers = { "ollama", "anthropic" }, budget_usd = 0.12,\n'
          .. '         max_latency_ms = 2500, stickiness = "session" }',
      },
      "Its fields:",
    },
  },
  glyph = {
    default = nil,
    fields = GLYPH_FIELDS,
    check = table_of(GLYPH_FIELDS, true, function(v)
      if v.cmd ~= nil and v.url ~= nil then
        return false, "set cmd or url, not both"
      end
      return v.cmd ~= nil or v.url ~= nil, "it needs cmd or url"
    end),
    expects = '{ cmd = {"glyph","serve","--transport","stdio"} } or { url = "ws://…" | "http://…/mcp" }',
    type = "table or nil",
    doc = {
      "The MCP server for tool calls and writes (|zeke-consent|). Either a command started on stdio:",
      { lua = 'glyph = { cmd = { "glyph", "serve", "--transport", "stdio" } }' },
      "or a URL, WebSocket or streamable HTTP:",
      { lua = 'glyph = { url = "ws://127.0.0.1:7331" }\nglyph = { url = "http://127.0.0.1:3000/mcp" }' },
      "Other MCP servers work too. nil: no tools are offered to the model. Set `cmd` or `url`, not both. "
        .. "A stdio server ends with Neovim, even one stuck in a call. Its fields:",
    },
  },
  consent = {
    default = "ask",
    check = consent_check,
    expects = '"ask", "allow" or a function(tool, args) -> boolean',
    type = '`"ask"`, `"allow"` or a function',
    doc = {
      'Who approves the writes the model asks for through tool calls: `"ask"` shows the diff and asks '
        .. 'you; `"allow"` lets them through; a `function(tool, args)` returning true lets that call '
        .. "through. It never applies an answer's code: that always waits for you (|zeke-review|). "
        .. "See |zeke-consent|.",
    },
  },
  db_path = {
    default = function()
      return vim.fn.stdpath("data") .. "/zeke/zeke.db"
    end,
    stdpath = { "data", "/zeke/zeke.db" },
    shown = '`stdpath("data") .. "/zeke/zeke.db"`',
    check = function(v)
      return type(v) == "string" and v ~= ""
    end,
    expects = "a file path",
    type = "string",
    doc = {
      "The local SQLite cache: per-project preferences, request stats, routing traces and the tool-call "
        .. "audit (|zeke-cache|).",
    },
  },
  context_lines = {
    default = 40,
    check = positive_integer,
    expects = "a whole number >= 0",
    type = "integer",
    doc = {
      "Lines sent on each side of the selection as context, then trimmed to "
        .. "|zeke-config-max_context_tokens|. The whole file is never sent.",
    },
  },
  max_context_tokens = {
    default = 3000,
    check = positive_integer,
    expects = "a whole number >= 0",
    type = "integer",
    doc = { "Token budget (estimated) for the surrounding lines." },
  },
  timeouts = {
    default = { connect = 3, first_byte = 30, read = 60, tool = 30 },
    fields = TIMEOUT_FIELDS,
    check = table_of(TIMEOUT_FIELDS, false),
    expects = "{ connect = seconds, first_byte = seconds, read = seconds, tool = seconds } (positive numbers)",
    type = "table",
    doc = { "Seconds (numbers > 0) allowed for:" },
  },
  ui = {
    default = { layout = "vsplit", width = 0.4, focus = false, why_key = "gR", followup_key = "f" },
    fields = UI_FIELDS,
    check = table_of(UI_FIELDS, false),
    expects = '{ layout = "vsplit"|"split"|"tab", width = fraction or columns, focus = boolean, '
      .. "why_key = key or false, followup_key = key or false }",
    type = "table",
    doc = { "The answer buffer: where it opens, and its keys:" },
  },
  test_paths = {
    default = {},
    check = is_string_map,
    expects = "a table of filetype = pattern with {root} {dir} {stem} {ext}",
    type = "table",
    doc = {
      "Test file location for filetypes without a built-in convention (|:ZekeTest|), filetype to "
        .. "pattern, with the placeholders `{root}` (project root), `{dir}` (the file's directory), "
        .. "`{stem}` (file name without extension) and `{ext}`:",
      { lua = 'test_paths = { ruby = "{root}/spec/{stem}_spec.rb" }' },
    },
  },
  tools = {
    default = { enable = {}, max_turns = 8 },
    fields = TOOLS_FIELDS,
    check = table_of(TOOLS_FIELDS, false),
    expects = "{ enable = { tool names }, max_turns = n >= 1 }",
    type = "table",
    doc = { "The tools offered through |zeke-config-glyph|:" },
  },
  history = {
    default = { enabled = true, max_entries = 1000 },
    fields = HISTORY_FIELDS,
    check = function(v)
      if v == false then
        return true
      end
      return table_of(HISTORY_FIELDS, false)(v)
    end,
    expects = "false or { enabled = boolean, max_entries = n >= 1 }",
    type = "table or false",
    doc = {
      "Every request and its answer (as sent, after redaction, and as received), who answered, what it "
        .. "cost and what became of it are kept in |zeke-config-db_path| for |:ZekeHistory|. `false` keeps "
        .. "nothing:",
    },
  },
  log_level = {
    default = "info",
    check = function(v)
      return v == "debug" or v == "info" or v == "warn" or v == "error"
    end,
    expects = '"debug", "info", "warn" or "error"',
    type = '`"debug"`, `"info"`, `"warn"` or `"error"`',
    doc = {
      'How much the Python host writes to its log, `stdpath("log") .. "/zeke.log"` ' .. "(|zeke-troubleshooting|).",
    },
  },
}

--- The keys in the order the help presents them.
M.order = {
  "api_base",
  "api_key_env",
  "ollama_host",
  "fallback",
  "python",
  "prestart",
  "alias",
  "aliases",
  "tags",
  "project",
  "omen",
  "glyph",
  "consent",
  "db_path",
  "context_lines",
  "max_context_tokens",
  "timeouts",
  "ui",
  "test_paths",
  "tools",
  "history",
  "log_level",
}

--- The start of the `*zeke-config*` help section, before the keys.
M.doc_intro = {
  "zeke works without any setup. Options come from, low to high: the defaults below, `vim.g.zeke` "
    .. '(a table, for example set before the plugin loads), and the table given to `require("zeke").setup()`. '
    .. "Tables are merged key by key; your |zeke-config-aliases| are added to the built-in ones. A bad value "
    .. "is reported once, at `setup()`, with a message naming the key in full (`ui.width`, `omen.budget_usd`), "
    .. "and the default is used instead: in a table of named fields (`ui`, `omen`, `glyph`, `timeouts`, "
    .. "`tools`) only the bad field falls back, the others stay. Numbers must be finite (no NaN or infinity). "
    .. "Unknown keys (and unknown fields of those tables, except `omen`'s, which go to the router) are "
    .. "reported and ignored. This section is generated from `lua/zeke/config.lua` by `make doc`.",
  "",
  "Example:",
  {
    lua = 'require("zeke").setup({\n'
      .. '  api_base = "http://127.0.0.1:8080/v1",\n'
      .. '  alias = "code-fast",\n'
      .. "  aliases = {\n"
      .. '    mine = { provider = "ollama", model = "qwen2.5-coder:7b" },\n'
      .. "  },\n"
      .. '  tags = { budget = "frugal" },\n'
      .. '  ui = { layout = "split", width = 0.3 },\n'
      .. "})",
  },
}

-- Public -----------------------------------------------------------------------

---@return zeke.Config
function M.defaults()
  local out = {}
  for key, spec in pairs(M.schema) do
    local d = spec.default
    if type(d) == "function" then
      out[key] = d()
    else
      out[key] = vim.deepcopy(d)
    end
  end
  return out
end

--- A value for a message: short, on one line.
local function shown(v)
  local text = util.one_line(vim.inspect(v))
  if #text > 80 then
    text = text:sub(1, 77) .. "..."
  end
  return text
end

local function problem(key, expects, value, why)
  return ("zeke: config key '%s' must be %s (got %s%s); using the default"):format(
    key,
    expects,
    shown(value),
    why and (": " .. why) or ""
  )
end

--- The fields of a table key that pass their checks; each bad one is reported
--- with its full name and left out (so its default applies).
---@return table clean, boolean any_bad
local function good_fields(key, spec, value, errors)
  local clean, any_bad = {}, false
  for k, v in pairs(value) do
    if type(k) ~= "string" then
      any_bad = true
      table.insert(
        errors,
        ("zeke: config key '%s' has an entry without a name ([%s] = %s); ignored"):format(key, shown(k), shown(v))
      )
    elseif not (spec.fields[k] or spec.fields["*"]) then
      any_bad = true
      table.insert(errors, ("zeke: unknown config key '%s.%s' (ignored); see :help zeke-config-%s"):format(key, k, key))
    elseif v ~= vim.NIL then -- a field set to nil: its default applies
      local field = spec.fields[k] or spec.fields["*"]
      local ok, why = field.check(v)
      if ok then
        clean[k] = v
      else
        any_bad = true
        table.insert(errors, problem(key .. "." .. k, field.expects, v, why))
      end
    end
  end
  return clean, any_bad
end

--- Defaults read from the environment are checked like the user's values.
local function check_env_defaults(cfg, errors)
  for key, spec in pairs(M.schema) do
    if spec.env and not spec.check(cfg[key]) then
      local _, why = spec.check(cfg[key])
      table.insert(
        errors,
        ("zeke: config key '%s' from $%s must be %s (got %s%s); using %s"):format(
          key,
          spec.env,
          spec.expects,
          shown(cfg[key]),
          why and (": " .. why) or "",
          spec.fallback
        )
      )
      cfg[key] = spec.fallback
    end
  end
end

--- Merge user opts over the defaults and validate.
---@param user table|nil
---@return zeke.Config config, string[] errors
function M.build(user)
  local errors = {}
  local cfg = M.defaults()
  check_env_defaults(cfg, errors)
  if user ~= nil and type(user) ~= "table" then
    table.insert(errors, "zeke: setup() expects a table of options (got " .. type(user) .. "); using the defaults")
    return cfg, errors
  end
  for key, value in pairs(user or {}) do
    local spec = M.schema[key]
    if not spec then
      table.insert(errors, ("zeke: unknown config key '%s' (ignored); see :help zeke-config"):format(tostring(key)))
    elseif value == vim.NIL then
      if spec.check(nil) then
        cfg[key] = nil -- an optional key (python, project, omen, glyph) is unset
      else
        table.insert(errors, ("zeke: config key '%s' cannot be unset (nil); using the default"):format(key))
      end
    elseif spec.fields and type(value) == "table" then
      local clean, any_bad = good_fields(key, spec, value, errors)
      local merged = type(cfg[key]) == "table" and vim.tbl_deep_extend("force", cfg[key], clean) or clean
      local ok, why = spec.check(merged)
      if ok then
        cfg[key] = merged
      elseif not any_bad then -- else the field's message already says what is wrong
        table.insert(errors, problem(key, spec.expects, value, why))
      end
    else
      local ok, why = spec.check(value)
      if not ok then
        table.insert(errors, problem(key, spec.expects, value, why))
      elseif key == "aliases" then
        -- users add or override aliases; the built-in ones stay unless replaced
        cfg.aliases = vim.tbl_deep_extend("force", cfg.aliases, value)
      elseif type(value) == "table" and type(cfg[key]) == "table" and not vim.islist(value) then
        cfg[key] = vim.tbl_deep_extend("force", cfg[key], value)
      else
        cfg[key] = value
      end
    end
  end
  if cfg.alias ~= "auto" and not cfg.aliases[cfg.alias] then
    table.insert(errors, ("zeke: config key 'alias' names unknown alias '%s'; using 'auto'"):format(cfg.alias))
    cfg.alias = "auto"
  end
  return cfg, errors
end

---@type zeke.Config|nil
local current = nil
local user_opts = nil
local set_error = nil ---@type string|nil

--- Set the user's opts (from setup()); the config is rebuilt on next get().
--- Anything but a table (or nil) is reported once and ignored.
---@param opts table|nil
function M.set(opts)
  set_error = nil
  if opts ~= nil and type(opts) ~= "table" then
    set_error = ("zeke: setup() expects a table of options (got %s: %s); ignored, using the defaults"):format(
      type(opts),
      shown(opts)
    )
    opts = nil
  end
  user_opts = opts
  current = nil
end

--- The effective config, validated once per change; problems are reported once.
---@return zeke.Config
function M.get()
  if current then
    return current
  end
  local errors = {}
  if set_error then
    table.insert(errors, set_error)
  end
  local merged = {}
  if type(vim.g.zeke) == "table" then
    merged = vim.deepcopy(vim.g.zeke)
  elseif vim.g.zeke ~= nil then
    table.insert(errors, ("zeke: vim.g.zeke must be a table of options (got %s); ignored"):format(type(vim.g.zeke)))
  end
  if user_opts then
    merged = vim.tbl_deep_extend("force", merged, user_opts)
  end
  local ok, cfg, build_errors = pcall(M.build, merged)
  if not ok then -- never: but a config must not break every command
    table.insert(errors, "zeke: could not read the config (" .. tostring(cfg) .. "); using the defaults")
    cfg, build_errors = M.build(nil)
  end
  vim.list_extend(errors, build_errors)
  current = cfg
  if #errors > 0 then
    vim.schedule(function()
      util.notify(table.concat(errors, "\n"), vim.log.levels.WARN)
    end)
  end
  M.errors = errors
  return cfg
end

--- The config for the Python host: every key, as validated, in a form msgpack can
--- carry (a consent function stays in Lua and is sent as "function"; the host
--- asks Lua when it matters).
---@return table
function M.for_host()
  local cfg = M.get()
  local out = {}
  for key in pairs(M.schema) do
    local v = cfg[key]
    if type(v) == "function" then
      out[key] = "function"
    elseif v ~= nil then
      out[key] = v
    end
  end
  return out
end

return M
