--- :ZekeModel (the alias picker), :ZekeStats and :ZekeAudit. The data comes
--- from the host's cache asynchronously; nothing here blocks.

local config = require("zeke.config")
local host = require("zeke.host")
local status = require("zeke.status")

local M = {}

local api = vim.api

-- Private helpers --------------------------------------------------------------

local function where()
  local name = api.nvim_buf_get_name(0)
  return {
    path = name ~= "" and vim.fn.fnamemodify(name, ":p") or vim.NIL,
    cwd = vim.fn.getcwd(),
    project = config.get().project or vim.NIL,
  }
end

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "zeke" })
end

local function nz(v)
  return v ~= nil and v ~= vim.NIL
end

local function pct(v)
  return nz(v) and ("%d%%"):format(math.floor(v * 100 + 0.5)) or "–"
end

local function ms(v)
  return nz(v) and status.format_ms(v) or "–"
end

--- One picker line: what the local stats know of an alias.
---@param item table
---@param current string
---@return string
function M.format_item(item, current)
  local mark = item.name == current and "● " or "  "
  local target = nz(item.model) and (item.model .. (nz(item.provider) and ("@" .. item.provider) or "")) or "router's choice"
  local s = item.summary
  local facts
  if nz(s) and (s.requests or 0) > 0 then
    facts = ("last %s · ttfb %s · ok %s · avg %s · %d req"):format(
      nz(s.last_model) and s.last_model or "?",
      ms(s.median_ttfb_ms),
      pct(s.success_rate),
      status.format_cost(nz(s.avg_cost_usd) and s.avg_cost_usd or nil),
      s.requests
    )
  else
    facts = "no requests yet"
  end
  return ("%s%-12s %-28s %s"):format(mark, item.name, target, facts)
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
      prompt = ("zeke model for %s"):format(result.project),
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
    local msg = ("zeke: %s now uses %s"):format(result.project, result.alias)
    if not result.saved then
      msg = msg .. " (for this session only: the stats cache is unavailable)"
    end
    notify(msg)
    vim.api.nvim_exec_autocmds("User", { pattern = "ZekeStatus", modeline = false })
  end)
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
    local lines = {
      ("zeke stats — %s"):format(all and "all projects" or result.project),
      "",
      ("%-12s %-24s %-10s %5s %6s %9s %9s %9s %9s %9s"):format(
        "alias", "model", "provider", "reqs", "ok", "ttfb p50", "ttfb p95", "tok in", "tok out", "cost"
      ),
    }
    for _, r in ipairs(result.rows) do
      local cost = status.format_cost(nz(r.cost_usd) and r.cost_usd or nil)
      if nz(r.cost_unknown) and r.cost_unknown > 0 and nz(r.cost_usd) then
        cost = cost .. "+?"
      end
      table.insert(
        lines,
        ("%-12s %-24s %-10s %5d %6s %9s %9s %9d %9d %9s"):format(
          nz(r.alias) and r.alias or "?",
          (nz(r.model) and r.model or "?") .. (r.degraded and " (degraded)" or ""),
          nz(r.provider) and r.provider or "?",
          r.requests,
          pct(r.success_rate),
          ms(r.median_ttfb_ms),
          ms(r.p95_ttfb_ms),
          r.tokens_in or 0,
          r.tokens_out or 0,
          cost
        )
      )
    end
    if #result.rows == 0 then
      table.insert(lines, "(no requests recorded yet)")
    end
    show_table("zeke://stats", lines)
  end)
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
    local lines = {
      ("zeke tool-call audit — %s"):format(all and "all projects" or result.project),
      "",
      ("%-19s %-16s %-14s %-8s %-8s %s"):format("time", "tool", "decision", "result", "ms", "detail"),
    }
    for _, r in ipairs(result.rows) do
      table.insert(
        lines,
        ("%-19s %-16s %-14s %-8s %-8s %s"):format(
          os.date("%Y-%m-%d %H:%M:%S", r.created_at or 0),
          r.tool or "?",
          r.decision or "?",
          r.result_status or "?",
          nz(r.duration_ms) and tostring(r.duration_ms) or "–",
          (nz(r.detail) and r.detail or "") .. (nz(r.args_digest) and (" #" .. r.args_digest) or "")
        )
      )
    end
    if #result.rows == 0 then
      table.insert(lines, "(no tool calls recorded yet)")
    end
    show_table("zeke://audit", lines)
  end)
end

return M
