--- Small shared helpers: making text from a server or a model safe to show, and
--- checking values (URLs, numbers) the config hands to the host.

local M = {}

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
