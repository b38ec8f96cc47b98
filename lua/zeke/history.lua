--- :ZekeHistory[!] (`:help zeke-history`): the requests kept in the cache, newest first,
--- in `vim.ui.select`; choosing one reopens it in an answer buffer, where :ZekeFollowup
--- and :ZekeRetry continue it (the host keeps the reopened conversation). Nothing here
--- blocks: the list and the entry come from the host asynchronously.

local config = require("zeke.config")
local host = require("zeke.host")
local status = require("zeke.status")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local notify = util.notify

--- The command a reopened answer belongs to, by intent (its buffer's name and keys).
H.COMMANDS = { code = "ZekeRefactor", tests = "ZekeTest", reason = "ZekeExplain" }
--- The list's word for each command.
H.WORDS = {
  ZekeRefactor = "refactor",
  ZekeTest = "test",
  ZekeExplain = "explain",
  ZekeFollowup = "follow-up",
  ZekeRetry = "retry",
}

-- Public -----------------------------------------------------------------------

--- :ZekeHistory[!]: this project's requests (`!`: every project's).
---@param all boolean
function M.list(all)
  local name = api.nvim_buf_get_name(0)
  local args = {
    path = name ~= "" and vim.fn.fnamemodify(name, ":p") or nil,
    cwd = vim.fn.getcwd(),
    project = config.get().project,
    all = all and true or false,
  }
  host.call("history", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    if not result.enabled then
      notify("zeke: the history is off (config history = false): nothing is kept")
      return
    end
    local rows = type(result.rows) == "table" and result.rows or {}
    if #rows == 0 then
      notify(("zeke: no history yet%s"):format(all and "" or (" for " .. H.cell(result.project))))
      return
    end
    vim.ui.select(rows, {
      prompt = ("zeke history — %s"):format(all and "all projects" or H.cell(result.project)),
      kind = "zeke.history",
      format_item = function(row)
        return M.format_item(row, all)
      end,
    }, function(choice)
      if choice then
        M.open(choice)
      end
    end)
  end)
end

--- One line of the list: time, command, alias→model, cost, outcome, the question's
--- first line (with the project first for `!`). Every cell is one line of text.
---@param row table  a HistoryRow (zeke/protocol.py)
---@param all boolean|nil
---@return string
function M.format_item(row, all)
  local when = util.is_finite(row.created_at) and os.date("%Y-%m-%d %H:%M", math.floor(row.created_at)) or "?"
  local word = H.WORDS[row.command] or H.cell(row.command)
  local who = H.cell(row.alias) .. "→" .. H.cell(row.model)
  local cost = status.format_cost(util.is_finite(row.cost_usd) and row.cost_usd or nil)
  return ("%s  %s  %s  %s  %s  %s%s"):format(
    when,
    util.pad(word, 9),
    who,
    cost,
    H.cell(row.outcome),
    all and ("[" .. H.cell(row.project) .. "] ") or "",
    row.title ~= nil and util.one_line(row.title) or ""
  )
end

--- Reopen one request in an answer buffer: the question, then the answer as received.
---@param row table  a HistoryRow
function M.open(row)
  local requests = require("zeke.requests")
  local id = require("zeke.commands").new_id()
  host.call("history_open", { id = row.request_id, thread = id }, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    local e = result.entry
    ---@type zeke.Request
    local req = {
      id = id,
      command = H.COMMANDS[e.intent] or "ZekeExplain",
      intent = e.intent or "reason",
      started = vim.uv.hrtime(),
      alias = e.alias,
      model = e.model,
      provider = e.provider,
      cost_usd = e.cost_usd,
      thread = result.thread,
      turn = result.turn,
    }
    requests.reopened(req, e.answer or "")
    local scratch = require("zeke.scratch")
    scratch.open(req)
    scratch.append(req, H.text(e, result.turn))
  end)
end

-- Private helpers --------------------------------------------------------------

--- What a reopened answer buffer shows.
---@param e table  a HistoryEntry
---@param turns integer
---@return string
function H.text(e, turns)
  local lines = {}
  local when = util.is_finite(e.created_at) and os.date("%Y-%m-%d %H:%M", math.floor(e.created_at)) or "?"
  table.insert(lines, ("_zeke history · %s · %s · %s_"):format(when, H.cell(e.outcome), H.cell(e.project)))
  if turns > 1 then
    table.insert(lines, ("_(turn %d of a conversation: the earlier turns go along with a follow-up)_"):format(turns))
  end
  table.insert(lines, "")
  local question = type(e.question) == "string" and e.question ~= "" and e.question or e.title
  for _, l in ipairs(vim.split(type(question) == "string" and question or "", "\n", { plain = true })) do
    table.insert(lines, "> " .. util.one_line(l))
  end
  table.insert(lines, "")
  return table.concat(lines, "\n") .. "\n" .. (type(e.answer) == "string" and e.answer or "")
end

--- A cell of text from the host (a model's name, the router's words): one line,
--- "?" when missing.
function H.cell(v)
  return v ~= nil and util.one_line(v) or "?"
end

return M
