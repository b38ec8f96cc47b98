-- `make doc`: the `*zeke-config*` section of doc/zeke.txt and the Python host's
-- rplugin/python3/zeke/defaults.json, both generated from lua/zeke/config.lua's
-- schema (its only home of defaults, rules and their documentation).
--
--   nvim -l scripts/config_doc.lua           rewrite both files
--   nvim -l scripts/config_doc.lua --print   print both, as JSON, and change nothing
--
-- The section runs from the line holding `*zeke-config*` to the next line of `=`;
-- everything outside it is left as it is.

local script = arg[0] or "scripts/config_doc.lua"
local root = vim.fs.dirname(vim.fs.dirname(vim.fn.fnamemodify(script, ":p")))
package.path = root .. "/lua/?.lua;" .. package.path

-- The defaults must not depend on who runs `make doc`.
vim.env.ZEKE_API_BASE = nil
vim.env.OLLAMA_HOST = nil

local config = require("zeke.config")

local WIDTH = 78
local DOC = root .. "/doc/zeke.txt"
local DEFAULTS = root .. "/rplugin/python3/zeke/defaults.json"

-- Fields (and the keys of defaults) in the order a reader expects them; others
-- follow in alphabetical order.
local RANK = {}
for i, name in ipairs({
  "provider",
  "model",
  "tags",
  "strategy",
  "k",
  "providers",
  "budget_usd",
  "max_latency_ms",
  "stickiness",
  "cmd",
  "url",
  "env",
  "name",
  "root",
  "connect",
  "first_byte",
  "read",
  "tool",
  "layout",
  "width",
  "focus",
  "enable",
  "max_turns",
  "latency",
  "budget",
  "*",
}) do
  RANK[name] = i
end

local function sorted_keys(t)
  local keys = vim.tbl_keys(t)
  table.sort(keys, function(a, b)
    local ra, rb = RANK[a] or math.huge, RANK[b] or math.huge
    if ra ~= rb then
      return ra < rb
    end
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- Lua literals ------------------------------------------------------------------

local literal

local function lua_key(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then
    return k
  end
  return "[" .. literal(k) .. "]"
end

--- The `k = v` parts of a table (or the items of a list), each on one line.
local function parts(t)
  local out = {}
  if vim.islist(t) then
    for _, v in ipairs(t) do
      table.insert(out, literal(v))
    end
  else
    for _, k in ipairs(sorted_keys(t)) do
      table.insert(out, lua_key(k) .. " = " .. literal(t[k]))
    end
  end
  return out
end

--- A value as Lua source on one line.
function literal(v)
  if type(v) == "string" then
    return '"' .. v:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"'
  elseif type(v) == "number" and v == math.floor(v) then
    return ("%d"):format(v)
  elseif type(v) == "table" then
    if next(v) == nil then
      return "{}"
    end
    return "{ " .. table.concat(parts(v), ", ") .. " }"
  end
  return tostring(v)
end

--- A table as Lua source, one entry a line (longer ones broken between fields).
local function block_literal(t, indent)
  local lines = { indent .. "{" }
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    local head = indent .. "  " .. lua_key(k) .. " = "
    local one = head .. literal(v) .. ","
    if #one <= WIDTH or type(v) ~= "table" then
      table.insert(lines, one)
    else
      local items = parts(v)
      local line = head .. "{ " .. items[1]
      local hang = (" "):rep(#head + 2)
      for i = 2, #items do
        if #line + 2 + #items[i] + 4 > WIDTH then
          table.insert(lines, line .. ",")
          line = hang .. items[i]
        else
          line = line .. ", " .. items[i]
        end
      end
      table.insert(lines, line .. " },")
    end
  end
  table.insert(lines, indent .. "}")
  return lines
end

-- Help text ---------------------------------------------------------------------

--- The words of a text; a `code span` with blanks stays one word.
local function words(text)
  local out, span = {}, nil
  for word in text:gmatch("%S+") do
    span = span and (span .. " " .. word) or word
    local _, ticks = span:gsub("`", "")
    if ticks % 2 == 0 then
      table.insert(out, span)
      span = nil
    end
  end
  if span then
    table.insert(out, span)
  end
  return out
end

--- Text wrapped at WIDTH: the first line after `first`, the others after `rest`.
local function wrap(text, first, rest)
  local lines, line, empty = {}, first, true
  for _, word in ipairs(words(text)) do
    if not empty and #line + 1 + #word > WIDTH then
      table.insert(lines, line)
      line, empty = rest .. word, false
    else
      line, empty = line .. (empty and "" or " ") .. word, false
    end
  end
  table.insert(lines, line)
  return lines
end

--- Collects help lines; after an example block the next line starts with `<`.
local function new_writer()
  local w = { lines = {}, closing = false }
  function w.add(line)
    if w.closing then
      w.closing = false
      if line:match("^ ") then
        line = "<" .. line:sub(2)
      else
        table.insert(w.lines, "<")
      end
    end
    table.insert(w.lines, line)
  end
  --- An example block: `>lua` ends the previous line (or stands alone).
  function w.example(code_lines, indent)
    local last = w.lines[#w.lines]
    if not w.closing and last and last ~= "" and #last + 5 <= WIDTH then
      w.lines[#w.lines] = last .. " >lua"
    else
      w.add(indent .. ">lua")
    end
    for _, code in ipairs(code_lines) do
      table.insert(w.lines, code == "" and "" or ("    " .. code))
    end
    w.closing = true
  end
  function w.finish()
    if w.closing then
      w.closing = false
      table.insert(w.lines, "<")
    end
  end
  return w
end

local function write_doc(w, doc, indent)
  for _, part in ipairs(doc) do
    if type(part) == "table" then
      w.example(vim.split(part.lua, "\n", { plain = true }), indent)
    elseif part == "" then
      w.add("")
    else
      for _, line in ipairs(wrap(part, indent, indent)) do
        w.add(line)
      end
    end
  end
end

--- How the help shows a key's default: a short text, or nil when it needs a block.
local function shown_default(spec)
  if spec.shown then
    return spec.shown
  elseif spec.env then
    return ("`$%s` or `%s`"):format(spec.env, literal(spec.fallback))
  elseif spec.default == nil then
    return "nil"
  end
  return "`" .. literal(spec.default) .. "`"
end

local function write_key(w, key, spec)
  local tag = "*zeke-config-" .. key .. "*"
  w.add((" "):rep(WIDTH - #tag) .. tag)
  local name = #key < 16 and (key .. (" "):rep(16 - #key)) or (key .. "  ")
  local default = shown_default(spec)
  local one = name .. spec.type .. ", default: " .. default
  local two, three = (" "):rep(16) .. "default: " .. default, (" "):rep(8) .. "default: " .. default
  if #one <= WIDTH then
    w.add(one)
  elseif #two <= WIDTH or #three <= WIDTH then
    w.add(name .. spec.type .. ",")
    w.add(#two <= WIDTH and two or three)
  else
    w.add(name .. spec.type .. ", default: >lua")
    for _, line in ipairs(block_literal(spec.default, "")) do
      table.insert(w.lines, "    " .. line)
    end
    w.closing = true
  end
  write_doc(w, spec.doc, "        ")
  if spec.fields then
    for _, field in ipairs(sorted_keys(spec.fields)) do
      local label = field == "*" and "Other fields:" or ("`" .. field .. "`:")
      for _, line in ipairs(wrap(label .. " " .. spec.fields[field].doc, "        ", "          ")) do
        w.add(line)
      end
    end
  end
  w.finish()
  w.add("")
end

--- The lines of the section after its heading line.
local function section()
  local listed = {}
  for _, key in ipairs(config.order) do
    assert(config.schema[key], "config.order names a key the schema lacks: " .. key)
    listed[key] = true
  end
  for key in pairs(config.schema) do
    assert(listed[key], "config.order lacks the key " .. key)
  end
  local w = new_writer()
  w.add("")
  write_doc(w, config.doc_intro, "")
  w.finish()
  w.add("")
  for _, key in ipairs(config.order) do
    write_key(w, key, config.schema[key])
  end
  for _, line in ipairs(w.lines) do
    assert(#line <= WIDTH or line:match("^    "), "a help line is too long: " .. line)
  end
  return w.lines
end

local function updated_doc(text)
  local lines = vim.split(text, "\n", { plain = true })
  local head, tail
  for i, line in ipairs(lines) do
    if not head and line:find("*zeke-config*", 1, true) then
      head = i
    elseif head and line:match("^=+$") then
      tail = i
      break
    end
  end
  assert(head and tail, "doc/zeke.txt has no *zeke-config* section ending in a line of =")
  local out = vim.list_slice(lines, 1, head)
  vim.list_extend(out, section())
  vim.list_extend(out, lines, tail)
  return table.concat(out, "\n")
end

-- defaults.json -------------------------------------------------------------------

local function json_string(s)
  return '"'
    .. s:gsub('[%c"\\]', function(c)
      local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
      return named[c] or ("\\u%04x"):format(c:byte())
    end)
    .. '"'
end

--- JSON with sorted keys and two-space indents (as Python's json.dumps(indent=2,
--- sort_keys=True) writes it), so the file only changes when a default does.
local function json(v, indent)
  indent = indent or ""
  if type(v) == "string" then
    return json_string(v)
  elseif type(v) == "number" then
    return v == math.floor(v) and ("%d"):format(v) or vim.json.encode(v)
  elseif type(v) ~= "table" then
    return tostring(v)
  elseif next(v) == nil then
    return "[]" -- as msgpack carries an empty Lua table to the host
  end
  local inner, items = indent .. "  ", {}
  if vim.islist(v) then
    for _, item in ipairs(v) do
      table.insert(items, inner .. json(item, inner))
    end
    return "[\n" .. table.concat(items, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = vim.tbl_keys(v)
  table.sort(keys)
  for _, k in ipairs(keys) do
    table.insert(items, inner .. json_string(k) .. ": " .. json(v[k], inner))
  end
  return "{\n" .. table.concat(items, ",\n") .. "\n" .. indent .. "}"
end

--- What the host needs to know of the schema: the keys, the defaults that are
--- plain values, and how the computed ones are computed outside Neovim.
local function defaults_json()
  local out = { keys = vim.deepcopy(config.order), defaults = {}, env = {}, stdpath = {} }
  for key, spec in pairs(config.schema) do
    if spec.env then
      out.defaults[key] = spec.fallback
      out.env[key] = { var = spec.env, bare = spec.bare }
    elseif spec.stdpath then
      out.stdpath[key] = spec.stdpath
    elseif type(spec.default) ~= "function" and spec.default ~= nil then
      out.defaults[key] = spec.default
    end
  end
  return json(out) .. "\n"
end

-- Main ------------------------------------------------------------------------------

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local doc, defaults = updated_doc(read(DOC)), defaults_json()
if arg[1] == "--print" then
  io.stdout:write(vim.json.encode({ doc = doc, defaults = defaults }))
else
  write(DOC, doc)
  write(DEFAULTS, defaults)
  io.stdout:write("wrote doc/zeke.txt (*zeke-config*) and rplugin/python3/zeke/defaults.json\n")
end
