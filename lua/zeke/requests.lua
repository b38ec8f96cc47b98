--- Request state on the Lua side: what `require("zeke").last()` returns, what
--- `vim.g.zeke_status` publishes, and the User events. The host drives it through
--- zeke.bridge; nothing here does I/O.

local M = {}

---@class zeke.Request
---@field id string
---@field command string
---@field intent string
---@field alias string|nil
---@field model string|nil
---@field provider string|nil
---@field state "streaming"|"done"|"error"|"cancelled"
---@field text string
---@field error string|nil
---@field buf integer|nil
---@field ttfb_ms number|nil
---@field latency_ms number|nil
---@field tokens_in integer|nil
---@field tokens_out integer|nil
---@field cost_usd number|nil
---@field degraded boolean
---@field tool_calls table[]
---@field over_budget boolean
---@field finish_reason string|nil
---@field truncated boolean
---@field source table  where the selection came from (buf, rows, text)
---@field chunks string[] text pieces not yet joined into `text`
---@field cancelled_here boolean|nil  ended by :ZekeCancel here, the host never confirming it

--- Fields of `last()` / ZekeRequestDone's data (`:help zeke.last()`).
local PUBLIC_FIELDS = {
  "id", "command", "intent", "alias", "model", "provider", "state", "text", "error", "buf",
  "ttfb_ms", "latency_ms", "tokens_in", "tokens_out", "cost_usd", "degraded", "tool_calls",
  "finish_reason", "truncated", "over_budget",
}

---@type table<string, zeke.Request>
M.by_id = {}
---@type string|nil
M.last_id = nil
--- Routing state shared by every request: set when the host enters/leaves degraded mode.
M.degraded = false
M.degraded_model = nil

-- Public -----------------------------------------------------------------------

---@param req zeke.Request
function M.add(req)
  req.state = "streaming"
  req.text = ""
  req.chunks = {}
  req.tool_calls = {}
  req.degraded = M.degraded
  req.over_budget = false
  req.truncated = false
  M.by_id[req.id] = req
  M.last_id = req.id
  M.prune()
  M.publish(req)
  M.fire("ZekeRequestStart", req)
end

---@param id string
---@return zeke.Request|nil
function M.get(id)
  return M.by_id[id]
end

--- The answer so far, joined lazily: appends are O(1) while streaming.
---@param req zeke.Request
---@return string
function M.text(req)
  if #req.chunks > 0 then
    req.text = req.text .. table.concat(req.chunks)
    req.chunks = {}
  end
  return req.text
end

---@param req zeke.Request|nil
---@return table|nil
function M.snapshot(req)
  if not req then
    return nil
  end
  M.text(req)
  local out = {}
  for _, k in ipairs(PUBLIC_FIELDS) do
    out[k] = req[k]
  end
  out.tool_calls = vim.deepcopy(req.tool_calls)
  return out
end

---@return table|nil
function M.last()
  return M.snapshot(M.last_id and M.by_id[M.last_id] or nil)
end

--- The most recent request still streaming, if any.
---@return zeke.Request|nil
function M.running()
  local best
  for _, req in pairs(M.by_id) do
    if req.state == "streaming" and (not best or req.started > best.started) then
      best = req
    end
  end
  return best
end

--- Publish `vim.g.zeke_status` from a request and fire `User ZekeStatus`.
---@param req zeke.Request
function M.publish(req)
  vim.g.zeke_status = {
    id = req.id,
    state = req.state,
    command = req.command,
    alias = req.alias,
    model = req.model,
    provider = req.provider,
    cost_usd = req.cost_usd,
    latency_ms = req.latency_ms,
    ttfb_ms = req.ttfb_ms,
    tokens_in = req.tokens_in,
    tokens_out = req.tokens_out,
    degraded = req.degraded,
    over_budget = req.over_budget,
    error = req.error,
  }
  require("zeke.status").changed()
  M.fire("ZekeStatus", nil)
end

---@param req zeke.Request
---@param state "done"|"error"|"cancelled"
function M.finish(req, state)
  if req.state ~= "streaming" then
    return
  end
  req.state = state
  M.publish(req)
  M.fire("ZekeRequestDone", req)
end

--- The host died: every streaming request ends in error, text kept.
---@param reason string
function M.host_died(reason)
  for _, req in pairs(M.by_id) do
    if req.state == "streaming" then
      req.error = "zeke: " .. reason
      require("zeke.scratch").show_error(req, req.error)
      M.finish(req, "error")
    end
  end
end

---@param pattern string
---@param req zeke.Request|nil
function M.fire(pattern, req)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = M.snapshot(req) })
end

--- Keep memory bounded across a long session: drop old finished requests.
function M.prune()
  local ids = {}
  for id, req in pairs(M.by_id) do
    if req.state ~= "streaming" and id ~= M.last_id then
      table.insert(ids, { id = id, started = req.started })
    end
  end
  if #ids <= 50 then
    return
  end
  table.sort(ids, function(a, b)
    return a.started < b.started
  end)
  for i = 1, #ids - 50 do
    local old = M.by_id[ids[i].id]
    M.by_id[ids[i].id] = nil
    -- its answer buffer goes too, unless it is on screen
    if old.buf and vim.api.nvim_buf_is_valid(old.buf) and #vim.fn.win_findbuf(old.buf) == 0 then
      pcall(vim.api.nvim_buf_delete, old.buf, { force = true })
    end
  end
end

return M
