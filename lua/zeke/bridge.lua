--- The only entry point the Python host calls: one notification carries a batch
--- of events, applied in order, atomically (one Lua call per batch). There is no
--- other path: a host that read Lua state and wrote it back later would lose the
--- updates made in between.
---
--- The names and payloads are defined once, in the host's zeke/protocol.py; the
--- handler tables here are held to it by tests/integration/test_protocol.py.

local requests = require("zeke.requests")
local scratch = require("zeke.scratch")
local util = require("zeke.util")

local M = {}
local H = {}

local notify = util.notify

--- The host's None arrives as vim.NIL; it becomes nil here, once, for every payload
--- (call replies included), so nothing else compares with vim.NIL. A None inside a
--- list stays vim.NIL: a hole would cut the list short for `#` and ipairs.
---@param v any
---@param unset table<string, true>|nil  collects the map's keys that were None
---@return any
function M.denull(v, unset)
  if v == vim.NIL then
    return nil
  end
  if type(v) == "table" then
    local list = vim.islist(v)
    for k, x in pairs(v) do
      if type(x) == "table" then
        v[k] = M.denull(x)
      elseif x == vim.NIL and not list then
        v[k] = nil -- assigning to an existing field during pairs() is allowed
        if unset then
          unset[k] = true
        end
      end
    end
  end
  return v
end

--- Copy the host's facts (meta, done): a fact it sent as None is unknown now.
---@param req zeke.Request
---@param data table
---@param unset table<string, true>
function H.merge(req, data, unset)
  for _, k in ipairs(requests.HOST_FIELDS) do
    if unset[k] then
      req[k] = nil
    elseif data[k] ~= nil then
      req[k] = data[k] -- `false` must survive (degraded, truncated, over_budget)
    end
  end
end

local handlers = {}

function handlers.text(req, text)
  table.insert(req.chunks, text)
  scratch.append(req, text)
end

function handlers.meta(req, data, unset)
  H.merge(req, data, unset)
  requests.publish(req)
  scratch.update_winbar(req)
end

function handlers.notes(_, notes)
  for _, note in ipairs(notes) do
    notify(note, vim.log.levels.INFO)
  end
end

function handlers.banner(req, text)
  scratch.banner(req, text)
end

function handlers.tool(req, call)
  table.insert(req.tool_calls, call)
  if call.message then
    notify(call.message, vim.log.levels.WARN)
  end
  if call.path and call.status == "ok" then
    require("zeke.review").reload(call.path)
  end
end

function handlers.done(req, data, unset)
  H.merge(req, data, unset)
  local state = data.state or "done"
  if data.error then
    req.error = data.error
    scratch.show_error(req, data.error)
    notify(data.error, state == "cancelled" and vim.log.levels.INFO or vim.log.levels.ERROR)
  end
  if data.proposal then
    req.proposal = data.proposal
  end
  for _, key in ipairs({ "warning", "note" }) do
    if data[key] and state == "done" then
      notify(data[key], key == "warning" and vim.log.levels.WARN or vim.log.levels.INFO)
    end
  end
  requests.finish(req, state)
  scratch.update_winbar(req) -- after finish: the bar shows the final state
  scratch.settle(req)
  if req.proposal then
    require("zeke.review").offer(req)
  end
end

-- Events that are not about one request.
local global = {}

function global.notice(data)
  notify(data.message, vim.log.levels[(data.level or "info"):upper()] or vim.log.levels.INFO)
end

function global.reply(data)
  require("zeke.host")._resolve(data.call_id, data.result, data.error)
end

function global.degraded(data)
  local changed = requests.set_degraded(data.on and true or false, data.model)
  if data.message and changed then
    notify(data.message, data.on and vim.log.levels.WARN or vim.log.levels.INFO)
  end
end

function global.consent(data)
  require("zeke.consent").ask(data)
end

function global.guard(data)
  require("zeke.guard").ask(data)
end

-- Public -----------------------------------------------------------------------

--- The handler tables, by event name (for the protocol test).
M.request_handlers = handlers
M.global_handlers = global

--- The host died (or was given up): every streaming request ends in error, with
--- the reason below the text that arrived.
---@param reason string
function M.host_died(reason)
  for _, req in ipairs(requests.streaming()) do
    req.error = "zeke: " .. reason
    scratch.show_error(req, req.error)
    requests.finish(req, "error")
    scratch.update_winbar(req)
    scratch.settle(req)
  end
end

--- Apply a batch of `{kind, id, data}` events from the host, in order.
---@param batch table[]
function M.dispatch(batch)
  require("zeke.host").alive()
  for _, ev in ipairs(batch) do
    local kind = ev[1]
    local ok, err = pcall(function()
      local unset = {}
      local id, data = M.denull(ev[2]), M.denull(ev[3], unset)
      if global[kind] then
        global[kind](data)
        return
      end
      local req = id and requests.get(id)
      local handler = handlers[kind]
      -- a request cancelled here (the host was not answering) stays as it ended
      if req and handler and (req.state == "streaming" or (kind == "done" and not req.cancelled_here)) then
        handler(req, data, unset)
      end
    end)
    if not ok then
      notify(("zeke: internal error handling %s: %s"):format(kind, err), vim.log.levels.ERROR)
    end
  end
end

return M
