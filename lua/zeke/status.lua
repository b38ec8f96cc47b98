--- The status badge: computed from `vim.g.zeke_status`, never by asking the host,
--- so statuslines can call it on every redraw.

local util = require("zeke.util")

local M = {}

local cached = nil ---@type string|nil

local MARKERS = {
  streaming = "…",
  done = "✓",
  error = "✗",
  cancelled = "⊘",
}

-- Public -----------------------------------------------------------------------

--- `$0.0123`, `$0` for a known zero (local models), `$?` when unknown.
---@param cost number|nil
---@return string
function M.format_cost(cost)
  if cost == nil then
    return "$?"
  end
  if cost == 0 then
    return "$0"
  end
  if cost < 0.01 then
    return ("$%.4f"):format(cost)
  end
  return ("$%.2f"):format(cost)
end

---@param ms number|nil
---@return string|nil
function M.format_ms(ms)
  if ms == nil then
    return nil
  end
  if ms >= 10000 then
    return ("%.0fs"):format(ms / 1000)
  end
  if ms >= 1000 then
    return ("%.1fs"):format(ms / 1000)
  end
  return ("%dms"):format(ms)
end

--- One line describing a request or status table: marker, alias→model, provider,
--- cost, latency, and the degraded / over-budget flags. Raw text (for messages):
--- the model and provider are the router's words, escape them for a statusline.
---@param s table  a request or vim.g.zeke_status
---@return string
function M.describe(s)
  local parts = { "zeke", MARKERS[s.state] or "" }
  local who = s.alias or "auto"
  local model = s.model
  if model and model ~= who then
    who = who .. "→" .. model
  end
  table.insert(parts, who)
  if s.provider then
    table.insert(parts, "@" .. s.provider)
  end
  if s.state ~= "streaming" or s.cost_usd ~= nil then
    local cost = M.format_cost(s.cost_usd)
    if s.over_budget then
      cost = cost .. "!"
    end
    table.insert(parts, cost)
  end
  local ms = M.format_ms(s.latency_ms)
  if ms then
    table.insert(parts, ms)
  end
  if s.degraded then
    table.insert(parts, "DEGRADED")
  end
  if s.state == "error" then
    table.insert(parts, "error")
  elseif s.over_budget then
    table.insert(parts, "over budget")
  end
  local out = {}
  for _, p in ipairs(parts) do
    if p ~= "" then
      table.insert(out, p)
    end
  end
  return table.concat(out, " ")
end

--- The statusline badge (cheap: a cached string, rebuilt when the status changes),
--- escaped for a statusline format: the router's text in it is shown, never run.
---@return string
function M.statusline()
  if cached then
    return cached
  end
  local s = vim.g.zeke_status
  if type(s) ~= "table" or not s.state then
    local reqs = package.loaded["zeke.requests"]
    if reqs and reqs.degraded then
      cached = "zeke DEGRADED"
    else
      cached = ""
    end
    return cached
  end
  cached = util.statusline_escape(M.describe(s))
  return cached
end

--- Status changed: drop the cached badge and let statuslines redraw.
function M.changed()
  cached = nil
  vim.cmd.redrawstatus({ bang = true, mods = { emsg_silent = true } })
end

return M
