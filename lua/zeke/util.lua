--- Small shared helpers: messages, zeke's own buffers, the host's Python
--- environment, making text from a server or a model safe to show, and checking
--- values (URLs, numbers) the config hands to the host.

local M = {}

local api = vim.api

-- Messages --------------------------------------------------------------------

--- Every message zeke shows goes through here (titled "zeke" for notifiers).
---@param msg string
---@param level? integer  a vim.log.levels value, INFO by default
function M.notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "zeke" })
end

-- Buffers ---------------------------------------------------------------------

--- zeke's own buffer named `name` (answer, review, consent, stats, audit): the one
--- of that name if it exists, else a new scratch buffer. Not a file ('buftype'
--- nofile: the name stays as it is, whatever the working directory), no swap file,
--- `b:zeke_view` set (one of zeke's own).
---@param name string  short and readable: `zeke: explain #3`
---@param bufhidden "hide"|"wipe"
---@return integer buf
function M.scratch_buffer(name, bufhidden)
  local buf = M.find_buffer(name)
  if not buf then
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, name)
  end
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = bufhidden
  vim.bo[buf].swapfile = false
  vim.b[buf].zeke_view = true
  return buf
end

--- The buffer whose name (as `:ls` shows it) is exactly `name`.
---@param name string
---@return integer|nil
function M.find_buffer(name)
  for _, b in ipairs(api.nvim_list_bufs()) do
    if vim.fn.bufname(b) == name then
      return b
    end
  end
end

--- `base`, or `base #2`, `#3`… : the first that no buffer has.
---@param base string
---@return string
function M.free_name(base)
  local name, n = base, 1
  while M.find_buffer(name) do
    n = n + 1
    name = ("%s #%d"):format(base, n)
  end
  return name
end

-- The Python host's environment -----------------------------------------------

--- PYTHONPATH for the host and the doctor: the plugin's rplugin/python3, then the
--- user's own.
---@param root string  the plugin's root directory
---@return string
function M.pythonpath(root)
  local path = root .. "/rplugin/python3"
  if vim.env.PYTHONPATH and vim.env.PYTHONPATH ~= "" then
    path = path .. ":" .. vim.env.PYTHONPATH
  end
  return path
end

--- Pad (or cut, with "…") text to a display width: columns line up whatever the
--- characters' widths (wide CJK, combining marks, "→").
---@param s string
---@param width integer
---@return string
function M.pad(s, width)
  local w = vim.fn.strdisplaywidth(s)
  if w > width then
    local cut = s
    while vim.fn.strdisplaywidth(cut) > width - 1 do
      cut = vim.fn.strcharpart(cut, 0, vim.fn.strchars(cut) - 1)
    end
    s, w = cut .. "…", vim.fn.strdisplaywidth(cut) + 1
  end
  return s .. (" "):rep(width - w)
end

-- Display ---------------------------------------------------------------------

--- One line of plain text: every control character (newline, carriage return,
--- tab, escape, NUL, DEL, the C1 range) becomes a space. Buffer lines cannot hold
--- a newline, pickers and statuslines break on one, and an escape sequence could
--- reach the terminal.
---@param s any
---@return string
function M.one_line(s)
  if type(s) ~= "string" then
    s = tostring(s)
  end
  s = s:gsub("%c", " ")
  s = s:gsub("\194[\128-\159]", " ")
  return s
end

--- Text for a 'statusline', 'winbar' or 'tabline' format, shown as it is: one
--- line, with every `%` doubled, so `%{…}`, `%!` or `%#…#` inside the text are
--- never evaluated. Use it on anything a server or a model supplied (model and
--- provider names, errors) before putting it into a format string.
---@param s any
---@return string
function M.statusline_escape(s)
  return (M.one_line(s):gsub("%%", "%%%%"))
end

-- Values ----------------------------------------------------------------------

--- A finite number (not NaN, not ±inf).
---@param v any
---@return boolean
function M.is_finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

--- A whole number lo <= v <= hi (hi defaults to 2^53 - 1, the largest the host
--- can take as an integer).
---@param v any
---@param lo number
---@param hi? number
---@return boolean
function M.is_whole(v, lo, hi)
  return M.is_finite(v) and math.floor(v) == v and v >= lo and v <= (hi or 2 ^ 53 - 1)
end

--- Check a URL the way the host's HTTP client will use it: one of `schemes`,
--- a host, and a port (when given) in 1–65535.
---@param v any
---@param schemes string[] allowed schemes, lower case
---@return boolean ok, string|nil why  what is wrong with it, for the message
function M.check_url(v, schemes)
  if type(v) ~= "string" then
    return false, nil
  end
  if v:find("[%c%s]") then
    return false, "it contains a space or a control character"
  end
  local scheme, rest = v:match("^([%a][%w+.-]*)://(.*)$")
  if not scheme then
    return false, "it does not start with " .. table.concat(schemes, "://, ") .. "://"
  end
  if not vim.tbl_contains(schemes, scheme:lower()) then
    return false, ("the scheme %q is not one of %s"):format(scheme, table.concat(schemes, ", "))
  end
  local authority = rest:match("^([^/?#]*)")
  local hostport = authority:match("^[^@]*@(.*)$") or authority
  local host, port
  if hostport:sub(1, 1) == "[" then
    host, port = hostport:match("^(%[[%x:.]+%])(.*)$")
  else
    host, port = hostport:match("^([^:]*)(.*)$")
    if host and not host:match("^[%w._~\128-\255-]+$") then
      host = nil
    end
  end
  if not host or host == "" then
    return false, "it has no valid host"
  end
  if port ~= "" then
    local digits = port:match("^:(%d+)$")
    if not digits then
      return false, "its port is not a number"
    end
    local n = tonumber(digits)
    if n < 1 or n > 65535 then
      return false, ("port %s is out of range (1–65535)"):format(digits)
    end
  end
  return true, nil
end

--- No NaN or infinite number anywhere inside (the host sends it as JSON, which
--- has neither).
---@param v any
---@param depth? integer
---@return boolean
function M.all_finite(v, depth)
  depth = depth or 0
  if type(v) == "number" then
    return M.is_finite(v)
  end
  if type(v) ~= "table" then
    return true
  end
  if depth > 20 then
    return false
  end
  for k, item in pairs(v) do
    if not M.all_finite(k, depth + 1) or not M.all_finite(item, depth + 1) then
      return false
    end
  end
  return true
end

return M
