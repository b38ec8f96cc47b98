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

--- The fields of `last()`, ZekeRequestDone's data and `vim.g.zeke_status` (`:help zeke.last()`),
--- in the manual's order: who sets each ("host": a fact of the host's meta/done events, copied
--- as is; "lua": this side's own) and whether `vim.g.zeke_status` carries it. The same as
--- REQUEST_FIELDS in the host's zeke/protocol.py (tests/integration/test_protocol.py).
---@type { [1]: string, [2]: "host"|"lua", [3]: boolean }[]
M.FIELDS = {
  { "id", "lua", true },
  { "command", "lua", true },
  { "intent", "lua", false },
  { "alias", "host", true },
  { "model", "host", true },
  { "provider", "host", true },
  { "state", "lua", true },
  { "text", "lua", false },
  { "error", "lua", true },
  { "buf", "lua", false },
  { "ttfb_ms", "host", true },
  { "latency_ms", "host", true },
  { "tokens_in", "host", true },
  { "tokens_out", "host", true },
  { "cost_usd", "host", true },
  { "degraded", "host", true },
  { "tool_calls", "lua", false },
  { "finish_reason", "host", false },
  { "truncated", "host", false },
  { "over_budget", "host", true },
}
--- The names of M.FIELDS: all of them, the ones the host reports, and the status's.
M.PUBLIC_FIELDS, M.HOST_FIELDS, M.STATUS_FIELDS = {}, {}, {}
for _, f in ipairs(M.FIELDS) do
  table.insert(M.PUBLIC_FIELDS, f[1])
  if f[2] == "host" then
    table.insert(M.HOST_FIELDS, f[1])
  end
  if f[3] then
    table.insert(M.STATUS_FIELDS, f[1])
  end
end

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
  for _, k in ipairs(M.PUBLIC_FIELDS) do
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
  local status = {}
  for _, k in ipairs(M.STATUS_FIELDS) do
    status[k] = req[k]
  end
  vim.g.zeke_status = status
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
