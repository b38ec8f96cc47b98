--- Request state on the Lua side: what `require("zeke").last()` returns, what
--- `vim.g.zeke_status` publishes (this is its one writer), degraded mode, and the
--- User events. Pure state: zeke.commands and zeke.bridge change it, then draw what
--- changed themselves (zeke.scratch); nothing here touches a buffer or a window.

local M = {}
local H = {}

---@class zeke.Request
---@field id string
---@field command string
---@field intent string
---@field alias string|nil
---@field model string|nil
---@field provider string|nil
---@field switched_from string|nil  the model that began the answer, when the router switched
---@field retried_as string|nil  the stand-in zeke asked for when the router did not know the alias
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
---@field thread string|nil  the conversation's id (its first request's; zeke.thread)
---@field turn integer|nil  this answer's place in it: 1 the first, 2 the first follow-up
---@field thread_cost_usd number|nil  the conversation's running cost
---@field thread_tokens integer|nil  the conversation's running token total
---@field thread_dropped string|nil  what the host left out to fit the context budget
---@field header integer|nil  extmark id of a follow-up's header in the answer buffer
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
  { "switched_from", "host", true },
  { "retried_as", "host", true },
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
  { "thread", "host", false },
  { "turn", "host", true },
  { "thread_cost_usd", "host", true },
  { "thread_tokens", "host", true },
  { "thread_dropped", "host", false },
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
--- Routing state shared by every request: set when the host enters/leaves degraded mode
--- (`M.set_degraded`), and the only home of that flag on this side.
M.degraded = false
---@type string|nil
M.degraded_model = nil
--- Bumped whenever `vim.g.zeke_status` or the degraded flag changes (zeke.status
--- rebuilds its cached badge when it moved).
M.revision = 0

--- How many finished requests are kept (`last()` always).
H.KEEP = 50

-- Public -----------------------------------------------------------------------

--- A new request, streaming; returns the old finished ones dropped to keep memory
--- bounded (their answer buffers are the caller's to remove).
---@param req zeke.Request
---@return zeke.Request[] dropped
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
  local dropped = H.prune()
  M.publish(req)
  M.fire("ZekeRequestStart", req)
  return dropped
end

--- A request reopened from the history (zeke.history): kept, already done, so the
--- answer buffer's commands find it; no User event, and last() stays as it was.
---@param req zeke.Request
---@param text string  its answer
---@return zeke.Request[] dropped
function M.reopened(req, text)
  req.state = "done"
  req.text = text
  req.chunks = {}
  req.tool_calls = {}
  req.degraded = req.degraded or false
  req.over_budget = false
  req.truncated = false
  M.by_id[req.id] = req
  return H.prune()
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
  H.write(status)
end

--- The host entered or left degraded mode: the status says so from now on.
---@param on boolean
---@param model string|nil  the local model degraded mode uses
---@return boolean changed
function M.set_degraded(on, model)
  local was = M.degraded
  M.degraded, M.degraded_model = on, model
  local status = vim.g.zeke_status
  if type(status) == "table" then
    status.degraded = on
  end
  H.write(status)
  return was ~= on
end

--- The user picked another alias (:ZekeModel): unless a request is streaming, the
--- status names it from now on, with no state and none of the last request's facts
--- (its model, cost and time belonged to the alias before).
---@param alias string
function M.set_alias(alias)
  if M.running() then
    return
  end
  H.write({ alias = alias, degraded = M.degraded })
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

--- Every request still streaming, oldest first.
---@return zeke.Request[]
function M.streaming()
  local out = {}
  for _, req in pairs(M.by_id) do
    if req.state == "streaming" then
      table.insert(out, req)
    end
  end
  table.sort(out, function(a, b)
    return a.started < b.started
  end)
  return out
end

---@param pattern string
---@param req zeke.Request|nil
function M.fire(pattern, req)
  vim.api.nvim_exec_autocmds("User", { pattern = pattern, modeline = false, data = M.snapshot(req) })
end

-- Private helpers --------------------------------------------------------------

--- The one place `vim.g.zeke_status` is written; `User ZekeStatus` follows.
---@param status table|nil
function H.write(status)
  vim.g.zeke_status = status
  M.revision = M.revision + 1
  M.fire("ZekeStatus", nil)
end

--- Keep memory bounded across a long session: drop old finished requests.
---@return zeke.Request[] dropped
function H.prune()
  local old = {}
  for id, req in pairs(M.by_id) do
    if req.state ~= "streaming" and id ~= M.last_id then
      table.insert(old, req)
    end
  end
  if #old <= H.KEEP then
    return {}
  end
  table.sort(old, function(a, b)
    return a.started < b.started
  end)
  local dropped = {}
  for i = 1, #old - H.KEEP do
    M.by_id[old[i].id] = nil
    table.insert(dropped, old[i])
  end
  return dropped
end

return M
