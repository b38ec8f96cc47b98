--- The status badge: computed from `vim.g.zeke_status`, never by asking the host,
--- so statuslines can call it on every redraw. It is rebuilt when zeke.requests
--- publishes a new status, and statuslines are redrawn on `User ZekeStatus`.
---
--- One badge on the screen: while the last answer is shown its winbar carries it, so
--- statuslines leave it out (the review windows always do).

local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api

H.MARKERS = {
  streaming = "…",
  done = "✓",
  error = "✗",
  cancelled = "⊘",
}

H.cached = nil ---@type string|nil
H.cached_revision = -1

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

--- Who answered: `alias`, `alias⇢stand-in` when the router did not know the alias and
--- zeke asked for another, then `→model` (and `→first→model` when the router switched
--- model mid-answer). Raw text: the router's words.
---@param s table  a request or vim.g.zeke_status
---@return string
function M.who(s)
  local who = s.alias or "auto"
  local last = who
  if s.retried_as and s.retried_as ~= who then
    who = who .. "⇢" .. s.retried_as
    last = s.retried_as
  end
  if s.switched_from and s.switched_from ~= last and s.switched_from ~= s.model then
    who = who .. "→" .. s.switched_from
    last = s.switched_from
  end
  if s.model and s.model ~= last then
    who = who .. "→" .. s.model
  end
  return who
end

--- One line describing a request or status table: marker, who answered (`M.who`),
--- provider, cost, latency, and the degraded / over-budget flags. Raw text (for
--- messages): the model and provider are the router's words, escape them for a
--- statusline.
---@param s table  a request or vim.g.zeke_status
---@return string
function M.describe(s)
  local parts = { "zeke", H.MARKERS[s.state] or "" }
  table.insert(parts, M.who(s))
  if s.provider then
    table.insert(parts, "@" .. s.provider)
  end
  if (s.state and s.state ~= "streaming") or s.cost_usd ~= nil then
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
  if (s.turn or 1) > 1 then -- a follow-up: what the conversation has cost so far
    local tokens = s.thread_tokens and (" · %d tok"):format(s.thread_tokens) or ""
    table.insert(parts, ("(thread %s%s)"):format(M.format_cost(s.thread_cost_usd), tokens))
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
--- Empty in answer and review windows, and in every window while the last
--- request's answer is on screen: its winbar already shows the badge, once.
---@return string
function M.statusline()
  -- %!: g:statusline_winid is the window drawn; %{}: that window is the current one
  local win = vim.g.statusline_winid or api.nvim_get_current_win()
  local requests = package.loaded["zeke.requests"]
  if H.has_header(win) or H.answer_on_screen(requests) then
    return ""
  end
  return M.badge()
end

--- The badge itself, escaped as for a statusline, wherever it is shown or not.
---@return string
function M.badge()
  local requests = package.loaded["zeke.requests"]
  local revision = requests and requests.revision or 0
  if H.cached and H.cached_revision == revision then
    return H.cached
  end
  local s = vim.g.zeke_status
  if type(s) == "table" and (s.state or s.alias) then
    H.cached = util.statusline_escape(M.describe(s))
  else
    H.cached = (requests and requests.degraded) and "zeke DEGRADED" or ""
  end
  H.cached_revision = revision
  return H.cached
end

--- Forget the cached badge and let statuslines redraw (zeke.requests published a
--- new status; `User ZekeStatus` calls it).
function M.changed()
  H.cached = nil
  vim.cmd.redrawstatus({ bang = true, mods = { emsg_silent = true } })
end

-- Private helpers --------------------------------------------------------------

--- Is the last request's answer shown in a window of this tab page?
---@param requests table|nil  zeke.requests, when loaded
---@return boolean
function H.answer_on_screen(requests)
  local id = requests and requests.last_id
  if not id then
    return false
  end
  for _, w in ipairs(api.nvim_tabpage_list_wins(0)) do
    if vim.b[api.nvim_win_get_buf(w)].zeke_request == id then
      return true
    end
  end
  return false
end

--- Does the window show an answer (its winbar is the badge) or a review of one?
---@param win integer
---@return boolean
function H.has_header(win)
  local ok, buf = pcall(api.nvim_win_get_buf, win)
  return ok and (vim.b[buf].zeke_request ~= nil or vim.b[buf].zeke_review ~= nil)
end

api.nvim_create_autocmd("User", {
  pattern = "ZekeStatus",
  group = api.nvim_create_augroup("zeke.status", { clear = true }),
  callback = M.changed,
})

return M
