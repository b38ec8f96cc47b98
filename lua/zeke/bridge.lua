--- The only entry point the Python host calls: one notification carries a batch
--- of events, applied in order, atomically (one Lua call per batch). There is no
--- other path: a host that read Lua state and wrote it back later would lose the
--- updates made in between.

local requests = require("zeke.requests")
local scratch = require("zeke.scratch")

local M = {}

local REQUEST_FIELDS = {
  "alias", "model", "provider", "ttfb_ms", "latency_ms", "tokens_in", "tokens_out",
  "cost_usd", "degraded", "over_budget", "finish_reason", "truncated", "size_hint", "tokens_est",
}

---@param req zeke.Request
---@param data table
local function merge(req, data)
  for _, k in ipairs(REQUEST_FIELDS) do
    local v = data[k]
    if v == vim.NIL then
      req[k] = nil
    elseif v ~= nil then
      req[k] = v -- `false` must survive (degraded, truncated, over_budget)
    end
  end
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "zeke" })
end

local handlers = {}

function handlers.text(req, text)
  table.insert(req.chunks, text)
  scratch.append(req, text)
end

function handlers.meta(req, data)
  merge(req, data)
  requests.publish(req)
  scratch.update_winbar(req)
end

function handlers.notes(req, notes)
  for _, note in ipairs(notes) do
    notify(note, vim.log.levels.INFO)
  end
  req.notes = notes
end

function handlers.banner(req, text)
  scratch.banner(req, text)
end

function handlers.tool(req, call)
  table.insert(req.tool_calls, call)
  if call.message and call.message ~= vim.NIL then
    notify(call.message, vim.log.levels.WARN)
  end
  local path = call.path ~= vim.NIL and call.path or nil
  if path and call.status == "ok" then
    require("zeke.review").reload(path)
  end
end

function handlers.done(req, data)
  merge(req, data)
  local state = data.state or "done"
  if data.error and data.error ~= vim.NIL then
    req.error = data.error
    scratch.show_error(req, data.error)
    notify(data.error, state == "cancelled" and vim.log.levels.INFO or vim.log.levels.ERROR)
  end
  if data.proposal and data.proposal ~= vim.NIL then
    req.proposal = data.proposal
  end
  for _, key in ipairs({ "warning", "note" }) do
    if data[key] and data[key] ~= vim.NIL and state == "done" then
      notify(data[key], key == "warning" and vim.log.levels.WARN or vim.log.levels.INFO)
    end
  end
  requests.finish(req, state)
  scratch.update_winbar(req) -- after finish: the bar shows the final state
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
  local was = requests.degraded
  requests.degraded = data.on and true or false
  requests.degraded_model = data.model ~= vim.NIL and data.model or nil
  if data.message and data.message ~= vim.NIL and was ~= requests.degraded then
    notify(data.message, data.on and vim.log.levels.WARN or vim.log.levels.INFO)
  end
  local s = vim.g.zeke_status
  if type(s) == "table" then
    s.degraded = requests.degraded
    vim.g.zeke_status = s
  end
  require("zeke.status").changed()
  requests.fire("ZekeStatus", nil)
end

function global.consent(data)
  require("zeke.review").ask_consent(data)
end

-- Public -----------------------------------------------------------------------

--- Apply a batch of `{kind, id, data}` events from the host, in order.
---@param batch table[]
function M.dispatch(batch)
  require("zeke.host").alive()
  for _, ev in ipairs(batch) do
    local kind, id, data = ev[1], ev[2], ev[3]
    local ok, err = pcall(function()
      if global[kind] then
        global[kind](data)
        return
      end
      local req = requests.get(id)
      local handler = handlers[kind]
      -- a request cancelled here (the host was not answering) stays as it ended
      if req and handler and (req.state == "streaming" or (kind == "done" and not req.cancelled_here)) then
        handler(req, data)
      end
    end)
    if not ok then
      notify(("zeke: internal error handling %s: %s"):format(kind, err), vim.log.levels.ERROR)
    end
  end
end

return M
