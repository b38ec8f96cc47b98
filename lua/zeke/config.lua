--- zeke.nvim configuration: one schema drives the defaults, the validation and
--- the documentation (`doc/zeke.txt` is checked against it by the tests).
---
--- Sources, low to high: the defaults below, `vim.g.zeke` (a table), then the
--- opts given to `require("zeke").setup()`. Validation happens once, when the
--- config is (re)built, and every message names the offending key.

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
---@field ui { layout: "vsplit"|"split"|"tab", width: number, focus: boolean }
---@field test_paths table<string, string>
---@field tools { enable: string[], max_turns: integer }
---@field log_level "debug"|"info"|"warn"|"error"

-- Private helpers --------------------------------------------------------------

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
  end
  return true
end

local function one_of(...)
  local allowed = { ... }
  return function(v)
    return vim.tbl_contains(allowed, v)
  end, "one of " .. table.concat(
    vim.tbl_map(function(a)
      return vim.inspect(a)
    end, allowed),
    ", "
  )
end

local function url(v)
  return type(v) == "string" and v:match("^https?://[^%s]+$") ~= nil
end

local function positive_integer(v)
  -- math.huge passes floor(v) == v, but the host cannot make an integer of it
  return type(v) == "number" and v >= 0 and v < 2 ^ 53 and math.floor(v) == v
end

local function alias_table(v)
  if type(v) ~= "table" then
    return false
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

-- Schema -----------------------------------------------------------------------

local fallback_ok, fallback_desc = one_of("ollama", false)
local consent_check = function(v)
  return v == "ask" or v == "allow" or type(v) == "function"
end

--- Every key: its default (a function when computed at load time), a check, what
--- the check expects (for messages), and a one-line description (for docs).
---@type table<string, {default: any, check: fun(v: any): boolean, expects: string, doc: string}>
M.schema = {
  api_base = {
    default = function()
      return os.getenv("ZEKE_API_BASE") or "http://127.0.0.1:8080/v1"
    end,
    check = url,
    expects = "an http(s) URL such as http://127.0.0.1:8080/v1",
    doc = "OMEN's OpenAI-compatible base URL (env ZEKE_API_BASE)",
  },
  api_key_env = {
    default = { "ZEKE_API_KEY", "OMEN_API_KEY" },
    check = is_list_of_strings,
    expects = "a list of environment variable names",
    doc = "environment variables holding the router's key, read at request time, never logged",
  },
  ollama_host = {
    default = function()
      local host = os.getenv("OLLAMA_HOST")
      if host and host ~= "" and not host:match("^https?://") then
        host = "http://" .. host -- Ollama accepts a bare host:port here; so do we
      end
      return host or "http://127.0.0.1:11434"
    end,
    check = url,
    expects = "an http(s) URL such as http://127.0.0.1:11434",
    doc = "local Ollama, used directly only in degraded mode (env OLLAMA_HOST)",
  },
  fallback = {
    default = "ollama",
    check = fallback_ok,
    expects = fallback_desc,
    doc = '"ollama": degraded mode on local Ollama when OMEN is unreachable; false: none',
  },
  python = {
    default = nil,
    check = function(v)
      return v == nil or type(v) == "string"
    end,
    expects = "a path to a Python interpreter",
    doc = "interpreter for the host; default: the virtual environment `make install` made",
  },
  alias = {
    default = "auto",
    check = function(v)
      return type(v) == "string" and v ~= ""
    end,
    expects = "an alias name",
    doc = "default alias; a per-project choice made with :ZekeModel wins",
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
    doc = "alias -> provider/model/tags; yours are merged over these",
  },
  tags = {
    default = { latency = "normal", budget = "normal" },
    check = is_string_map,
    expects = "a table of string keys to string values",
    doc = "routing hint tags merged under the alias's and the command's",
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
    doc = "project name for tags and stats, and its root for tool calls; default: the git root",
  },
  omen = {
    default = nil,
    check = function(v)
      if v == nil then
        return true
      end
      if type(v) ~= "table" then
        return false
      end
      local strategies = { single = true, race = true, speculate_k = true, parallel_merge = true }
      if v.strategy ~= nil and not strategies[v.strategy] then
        return false
      end
      for _, k in ipairs({ "k", "budget_usd", "max_latency_ms" }) do
        if v[k] ~= nil and type(v[k]) ~= "number" then
          return false
        end
      end
      return v.providers == nil or is_list_of_strings(v.providers)
    end,
    expects = "{ strategy = single|race|speculate_k|parallel_merge, k = n, providers = {..}, budget_usd = n, max_latency_ms = n, stickiness = s }",
    doc = "optional OMEN strategy object sent with each request",
  },
  glyph = {
    default = nil,
    check = function(v)
      if v == nil then
        return true
      end
      if type(v) ~= "table" then
        return false
      end
      if v.cmd ~= nil then
        return is_list_of_strings(v.cmd) and #v.cmd > 0
      end
      return type(v.url) == "string" and (v.url:match("^wss?://") or v.url:match("^https?://")) ~= nil
    end,
    expects = '{ cmd = {"glyph","serve","--transport","stdio"} } or { url = "ws://…" | "http://…/mcp" }',
    doc = "MCP tool server for tool calls and writes",
  },
  consent = {
    default = "ask",
    check = consent_check,
    expects = '"ask", "allow" or a function(tool, args) -> boolean',
    doc = "who approves writes the model asks for through tool calls",
  },
  db_path = {
    default = function()
      return vim.fn.stdpath("data") .. "/zeke/zeke.db"
    end,
    check = function(v)
      return type(v) == "string" and v ~= ""
    end,
    expects = "a file path",
    doc = "the local SQLite cache of prefs, stats and the tool-call audit",
  },
  context_lines = {
    default = 40,
    check = positive_integer,
    expects = "a whole number >= 0",
    doc = "surrounding lines sent on each side of the selection (then trimmed to max_context_tokens)",
  },
  max_context_tokens = {
    default = 3000,
    check = positive_integer,
    expects = "a whole number >= 0",
    doc = "token budget for the surrounding lines",
  },
  timeouts = {
    default = { connect = 3, first_byte = 30, read = 60, tool = 30 },
    check = function(v)
      if type(v) ~= "table" then
        return false
      end
      for _, k in ipairs({ "connect", "first_byte", "read", "tool" }) do
        if v[k] ~= nil and (type(v[k]) ~= "number" or v[k] <= 0) then
          return false
        end
      end
      return true
    end,
    expects = "{ connect = seconds, first_byte = seconds, read = seconds, tool = seconds } (positive numbers)",
    doc = "connect timeout, time allowed before the answer starts, per-read idle timeout, and time allowed per tool call",
  },
  ui = {
    default = { layout = "vsplit", width = 0.4, focus = false },
    check = function(v)
      return type(v) == "table"
        and (v.layout == nil or v.layout == "vsplit" or v.layout == "split" or v.layout == "tab")
        and (v.width == nil or (type(v.width) == "number" and v.width > 0))
        and (v.focus == nil or type(v.focus) == "boolean")
    end,
    expects = '{ layout = "vsplit"|"split"|"tab", width = fraction or columns, focus = boolean }',
    doc = "where the answer buffer opens, and whether the cursor moves into it",
  },
  test_paths = {
    default = {},
    check = is_string_map,
    expects = "a table of filetype = pattern with {root} {dir} {stem} {ext}",
    doc = "test file location for filetypes without a built-in convention",
  },
  tools = {
    default = { enable = {}, max_turns = 8 },
    check = function(v)
      return type(v) == "table"
        and (v.enable == nil or is_list_of_strings(v.enable))
        and (v.max_turns == nil or (positive_integer(v.max_turns) and v.max_turns >= 1))
    end,
    expects = "{ enable = { tool names }, max_turns = n >= 1 }",
    doc = "destructive tools to offer (delete_file, shell_execute, …) and the tool-call turn limit",
  },
  log_level = {
    default = "info",
    check = function(v)
      return v == "debug" or v == "info" or v == "warn" or v == "error"
    end,
    expects = '"debug", "info", "warn" or "error"',
    doc = "how much the host writes to its log under stdpath('log')",
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

--- Merge user opts over the defaults and validate.
---@param user table|nil
---@return zeke.Config config, string[] errors
function M.build(user)
  local errors = {}
  local cfg = M.defaults()
  if user ~= nil and type(user) ~= "table" then
    return cfg, { "zeke: setup() expects a table of options (got " .. type(user) .. ")" }
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
    elseif not spec.check(value) then
      table.insert(
        errors,
        ("zeke: config key '%s' must be %s (got %s); using the default"):format(key, spec.expects, vim.inspect(value))
      )
    elseif key == "aliases" then
      -- users add or override aliases; the built-in ones stay unless replaced
      cfg.aliases = vim.tbl_deep_extend("force", cfg.aliases, value)
    elseif type(value) == "table" and type(cfg[key]) == "table" and not vim.islist(value) then
      cfg[key] = vim.tbl_deep_extend("force", cfg[key], value)
    else
      cfg[key] = value
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

--- Set the user's opts (from setup()); the config is rebuilt on next get().
---@param opts table|nil
function M.set(opts)
  user_opts = opts
  current = nil
end

--- The effective config, validated once per change; problems are reported once.
---@return zeke.Config
function M.get()
  if current then
    return current
  end
  local merged = {}
  if type(vim.g.zeke) == "table" then
    merged = vim.deepcopy(vim.g.zeke)
  end
  if user_opts then
    merged = vim.tbl_deep_extend("force", merged, user_opts)
  end
  local cfg, errors = M.build(merged)
  current = cfg
  if #errors > 0 then
    vim.schedule(function()
      vim.notify(table.concat(errors, "\n"), vim.log.levels.WARN, { title = "zeke" })
    end)
  end
  M.errors = errors
  return cfg
end

--- The parts of the config the Python host needs, in a form msgpack can carry
--- (a consent function stays in Lua; the host asks Lua when it matters).
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
