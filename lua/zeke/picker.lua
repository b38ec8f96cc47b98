--- :ZekeModel (the alias picker), :ZekeStats and :ZekeAudit. The data comes
--- from the host's cache asynchronously; nothing here blocks.

local config = require("zeke.config")
local host = require("zeke.host")
local status = require("zeke.status")
local util = require("zeke.util")

local M = {}

local api = vim.api

-- Private helpers --------------------------------------------------------------

local function where()
  local name = api.nvim_buf_get_name(0)
  return {
    path = name ~= "" and vim.fn.fnamemodify(name, ":p") or nil,
    cwd = vim.fn.getcwd(),
    project = config.get().project,
  }
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "zeke" })
end

local function nz(v)
  return v ~= nil
end

local function pct(v)
  return nz(v) and ("%d%%"):format(math.floor(v * 100 + 0.5)) or "–"
end

local function ms(v)
  return nz(v) and status.format_ms(v) or "–"
end

--- A cell of text from the host (model, provider, alias, detail: the router's or
--- a tool server's words): one line, "?" when missing.
local function cell(v)
  return nz(v) and util.one_line(v) or "?"
end

--- A count for a `%d` column (a missing or odd value must not break the table).
local function count(v)
  return util.is_finite(v) and math.floor(v) or 0
end

--- One picker line: what the local stats know of an alias.
---@param item table
---@param current string
---@return string
function M.format_item(item, current)
  local mark = item.name == current and "● " or "  "
  local target = nz(item.model) and (cell(item.model) .. (nz(item.provider) and ("@" .. cell(item.provider)) or ""))
    or "router's choice"
  local s = item.summary
  local facts
  if type(s) == "table" and count(s.requests) > 0 then
    facts = ("last %s · ttfb %s · ok %s · avg %s · %d req"):format(
      cell(s.last_model),
      ms(s.median_ttfb_ms),
      pct(s.success_rate),
      status.format_cost(nz(s.avg_cost_usd) and s.avg_cost_usd or nil),
      count(s.requests)
    )
  else
    facts = "no requests yet"
  end
  return ("%s%-12s %-28s %s"):format(mark, cell(item.name), target, facts)
end

--- A read-only scratch buffer with lines (stats, audit).
local function show_table(name, lines)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, name)
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    vim.keymap.set("n", "q", "<Cmd>close<CR>", { buffer = buf, nowait = true, silent = true })
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if vim.fn.bufwinid(buf) == -1 then
    vim.cmd("botright split")
    api.nvim_win_set_buf(0, buf)
    api.nvim_win_set_height(0, math.min(#lines + 1, math.floor(vim.o.lines / 2)))
  end
  return buf
end

-- Public -----------------------------------------------------------------------

--- :ZekeModel [alias]
---@param alias string|nil
function M.run(alias)
  if alias then
    M.set(alias)
    return
  end
  host.call("aliases", where(), function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    local items = result.aliases
    vim.ui.select(items, {
      prompt = ("zeke model for %s"):format(cell(result.project)),
      kind = "zeke.alias",
      format_item = function(item)
        return M.format_item(item, result.current)
      end,
    }, function(choice)
      if choice then
        M.set(choice.name)
      end
    end)
  end)
end

--- Remember an alias for the current project.
---@param alias string
function M.set(alias)
  local args = where()
  args.alias = alias
  host.call("set_alias", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    local msg = ("zeke: %s now uses %s"):format(cell(result.project), cell(result.alias))
    if not result.saved then
      msg = msg .. " (for this session only: the stats cache is unavailable)"
    end
    notify(msg)
    vim.api.nvim_exec_autocmds("User", { pattern = "ZekeStatus", modeline = false })
  end)
end

--- The lines of the :ZekeStats table.
---@param result table  the host's answer: project, rows
---@param all boolean
---@return string[]
function M.stats_lines(result, all)
  local rows = type(result.rows) == "table" and result.rows or {}
  local lines = {
    ("zeke stats — %s"):format(all and "all projects" or cell(result.project)),
    "",
    ("%-12s %-24s %-10s %5s %6s %9s %9s %9s %9s %9s"):format(
      "alias",
      "model",
      "provider",
      "reqs",
      "ok",
      "ttfb p50",
      "ttfb p95",
      "tok in",
      "tok out",
      "cost"
    ),
  }
  for _, r in ipairs(rows) do
    local cost = status.format_cost(nz(r.cost_usd) and r.cost_usd or nil)
    if count(r.cost_unknown) > 0 and nz(r.cost_usd) then
      cost = cost .. "+?"
    end
    table.insert(
      lines,
      ("%-12s %-24s %-10s %5d %6s %9s %9s %9d %9d %9s"):format(
        cell(r.alias),
        cell(r.model) .. (r.degraded == true and " (degraded)" or ""),
        cell(r.provider),
        count(r.requests),
        pct(r.success_rate),
        ms(r.median_ttfb_ms),
        ms(r.p95_ttfb_ms),
        count(r.tokens_in),
        count(r.tokens_out),
        cost
      )
    )
  end
  if #rows == 0 then
    table.insert(lines, "(no requests recorded yet)")
  end
  return lines
end

--- :ZekeStats[!]
---@param all boolean
function M.stats(all)
  local args = where()
  args.all = all and true or false
  host.call("stats", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    show_table("zeke://stats", M.stats_lines(result, all))
  end)
end

--- The lines of the :ZekeAudit table.
---@param result table  the host's answer: project, rows
---@param all boolean
---@return string[]
function M.audit_lines(result, all)
  local rows = type(result.rows) == "table" and result.rows or {}
  local lines = {
    ("zeke tool-call audit — %s"):format(all and "all projects" or cell(result.project)),
    "",
    ("%-19s %-16s %-14s %-8s %-8s %s"):format("time", "tool", "decision", "result", "ms", "detail"),
  }
  for _, r in ipairs(rows) do
    local detail = (nz(r.detail) and util.one_line(r.detail) or "")
      .. (nz(r.args_digest) and (" #" .. cell(r.args_digest)) or "")
    table.insert(
      lines,
      ("%-19s %-16s %-14s %-8s %-8s %s"):format(
        os.date("%Y-%m-%d %H:%M:%S", count(r.created_at)),
        cell(r.tool),
        cell(r.decision),
        cell(r.result_status),
        nz(r.duration_ms) and cell(r.duration_ms) or "–",
        detail
      )
    )
  end
  if #rows == 0 then
    table.insert(lines, "(no tool calls recorded yet)")
  end
  return lines
end

--- :ZekeAudit[!] — recent tool calls and consent decisions.
---@param all boolean
function M.audit(all)
  local args = where()
  args.all = all and true or false
  host.call("audit", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    show_table("zeke://audit", M.audit_lines(result, all))
  end)
end

return M
