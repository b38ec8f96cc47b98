--- Conversations (`:help zeke-conversations`): :ZekeFollowup continues the thread of
--- an answer in its answer buffer; :ZekeRetry sends the same request to another alias
--- in a new answer buffer beside it. The thread itself (every message, the model that
--- answered) is kept by the host, keyed by its first request's id: this side only
--- says which thread, and draws the answers.

local host = require("zeke.host")
local requests = require("zeke.requests")
local scratch = require("zeke.scratch")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local notify = util.notify
local anchor_ns = api.nvim_create_namespace("zeke.anchor") -- set by zeke.commands

--- Thread id -> the thread it retried (its family's first): applying one answer's
--- change drops the others' (zeke.review).
M.families = {} ---@type table<string, string>

M.NO_ANSWER = "zeke: no answer to follow up or retry yet; ask first with :ZekeRefactor, :ZekeTest "
  .. "or :ZekeExplain (in an answer buffer, these commands act on its answer)"
M.STREAMING = "zeke: that answer is still streaming; wait for it to end (or :ZekeCancel it), then follow up"

-- Public -----------------------------------------------------------------------

--- The family of a request's thread: the thread it was retried from, else its own.
---@param req table
---@return string
function M.family(req)
  local t = req.thread or req.id
  return M.families[t] or t
end

--- :ZekeFollowup[!] [alias] {text} — no text: asks for it with vim.ui.input.
---@param args { args: string, bang: boolean|nil }
function M.followup(args)
  local text, alias = vim.trim(args.args or ""), nil
  if args.bang then
    alias, text = text:match("^(%S+)%s*(.*)$")
    if not alias then
      notify("zeke: :ZekeFollowup! needs an alias: :ZekeFollowup! {alias} {text}", vim.log.levels.WARN)
      return
    end
    if not H.known(alias) then
      return
    end
  end
  local last = H.current()
  if not last then
    notify(M.NO_ANSWER, vim.log.levels.WARN)
    return
  end
  if last.state == "streaming" then
    notify(M.STREAMING, vim.log.levels.WARN)
    return
  end
  if text ~= "" then
    H.send_followup(last, text, alias)
    return
  end
  vim.ui.input({ prompt = "zeke follow-up: " }, function(input)
    if input and vim.trim(input) ~= "" then
      H.send_followup(last, vim.trim(input), alias)
    end
  end)
end

--- :ZekeRetry [alias] — no alias: a picker of the aliases with their local stats.
---@param alias string|nil
function M.retry(alias)
  local last = H.current()
  if not last then
    notify(M.NO_ANSWER, vim.log.levels.WARN)
    return
  end
  if alias then
    if H.known(alias) then
      H.send_retry(last, alias)
    end
    return
  end
  local picker = require("zeke.picker")
  host.call("aliases", { path = last.source and last.source.path, cwd = vim.fn.getcwd() }, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    local widths = picker.widths(result.aliases)
    vim.ui.select(result.aliases, {
      prompt = "zeke: retry on",
      kind = "zeke.alias",
      format_item = function(item)
        return picker.format_item(item, last.alias or result.current, widths)
      end,
    }, function(choice)
      if choice then
        H.send_retry(last, choice.name)
      end
    end)
  end)
end

-- Private helpers --------------------------------------------------------------

--- The answer a command acts on: the current answer buffer's latest, else the last.
---@return zeke.Request|nil
function H.current()
  local id = vim.b.zeke_request
  local req = type(id) == "string" and requests.get(id) or nil
  return req or (requests.last_id and requests.get(requests.last_id)) or nil
end

--- Is it an alias zeke knows? Else a message naming the known ones.
---@param alias string
---@return boolean
function H.known(alias)
  local names = require("zeke.commands").complete_alias("")
  if vim.tbl_contains(names, alias) then
    return true
  end
  notify(("zeke: unknown alias '%s'. Known aliases: %s"):format(alias, table.concat(names, ", ")), vim.log.levels.WARN)
  return false
end

---@param last zeke.Request
---@return zeke.Request
function H.new_request(last)
  return {
    id = require("zeke.commands").new_id(),
    command = last.command,
    intent = last.intent,
    started = vim.uv.hrtime(),
  }
end

---@param last zeke.Request
---@param text string
---@param alias string|nil
function H.send_followup(last, text, alias)
  host.recover()
  local req = H.new_request(last)
  req.thread = last.thread or last.id
  req.turn = (last.turn or 1) + 1
  req.source = last.source -- the same selection: the latest proposal replaces the one before
  scratch.discard(requests.add(req))
  local buf = last.buf
  if buf and api.nvim_buf_is_valid(buf) then
    req.buf = buf
    vim.b[buf].zeke_request = req.id -- the buffer's keys and commands act on the latest
    scratch.section(req, text)
    scratch.update_winbar(req)
  else
    scratch.open(req) -- its answer buffer was wiped: this one starts a new one
  end
  H.sent(req, host.notify("followup", { id = req.id, thread = req.thread, text = text, alias = alias }))
end

---@param last zeke.Request
---@param alias string
function H.send_retry(last, alias)
  host.recover()
  local req = H.new_request(last)
  req.thread, req.turn = req.id, 1
  M.families[req.id] = M.family(last)
  req.source = H.own_source(last.source)
  scratch.discard(requests.add(req))
  local opened, err = pcall(scratch.open, req, { beside = true })
  if not opened then
    notify("zeke: could not open the answer window: " .. tostring(err), vim.log.levels.ERROR)
  end
  H.sent(req, host.notify("retry", { id = req.id, thread = last.thread or last.id, alias = alias }))
end

--- The source of a retry: the same selection with its own anchor (each answer's
--- change is settled on its own; dropping one removes its anchor).
---@param src table|nil
---@return table|nil
function H.own_source(src)
  if not src then
    return nil
  end
  local copy = vim.tbl_extend("force", {}, src)
  copy.mark = nil
  if src.mark and api.nvim_buf_is_valid(src.buf) and api.nvim_buf_is_loaded(src.buf) then
    local pos = api.nvim_buf_get_extmark_by_id(src.buf, anchor_ns, src.mark, {})
    if pos[1] then
      copy.mark = api.nvim_buf_set_extmark(src.buf, anchor_ns, pos[1], 0, {})
    end
  end
  return copy
end

--- A host that could not be reached ends the request here.
---@param req zeke.Request
---@param ok boolean
---@param err string|nil
function H.sent(req, ok, err)
  if not ok then
    req.error = err
    scratch.show_error(req, err)
    notify(err, vim.log.levels.ERROR)
    requests.finish(req, "error")
  end
end

return M
