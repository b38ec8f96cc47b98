--- :ZekeModel (the alias picker), :ZekeStats and :ZekeAudit. The data comes
--- from the host's cache asynchronously; nothing here blocks.

local config = require("zeke.config")
local host = require("zeke.host")
local status = require("zeke.status")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local notify = util.notify

--- The widest the picker's model column grows before long names are cut with "…".
H.MAX_TARGET_WIDTH = 40

-- Public -----------------------------------------------------------------------

--- :ZekeModel [alias]
---@param alias string|nil
function M.run(alias)
  if alias then
    M.set(alias)
    return
  end
  host.call("aliases", H.where(), function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    local items = result.aliases
    local widths = M.widths(items)
    vim.ui.select(items, {
      prompt = ("zeke model for %s"):format(H.cell(result.project)),
      kind = "zeke.alias",
      format_item = function(item)
        return M.format_item(item, result.current, widths)
      end,
    }, function(choice)
      if choice then
        M.set(choice.name)
      end
    end)
  end)
end

--- The picker's column widths (display cells) for these items: every name and
--- model fits, up to H.MAX_TARGET_WIDTH for the model.
---@param items table[]
---@return { name: integer, target: integer }
function M.widths(items)
  local w = { name = 4, target = 14 }
  for _, item in ipairs(items) do
    w.name = math.max(w.name, vim.fn.strdisplaywidth(H.cell(item.name)))
    w.target = math.max(w.target, vim.fn.strdisplaywidth(H.target(item)))
  end
  w.target = math.min(w.target, H.MAX_TARGET_WIDTH)
  return w
end

--- One picker line: what the local stats know of an alias, in columns `widths`
--- wide (M.widths of all the items; by default this item's own).
---@param item table
---@param current string
---@param widths? { name: integer, target: integer }
---@return string
function M.format_item(item, current, widths)
  widths = widths or M.widths({ item })
  local mark = item.name == current and "● " or "  "
  local s = item.summary
  local facts
  if type(s) == "table" and H.count(s.requests) > 0 then
    facts = ("last %s · ttfb %s · ok %s · avg %s · %d req · applied %s"):format(
      H.cell(s.last_model),
      H.ms(s.median_ttfb_ms),
      H.pct(s.success_rate),
      status.format_cost(H.nz(s.avg_cost_usd) and s.avg_cost_usd or nil),
      H.count(s.requests),
      H.nz(s.apply_rate) and H.pct(s.apply_rate) or "–"
    )
  else
    facts = "no requests yet"
  end
  return ("%s%s %s %s"):format(
    mark,
    util.pad(H.cell(item.name), widths.name),
    util.pad(H.target(item), widths.target),
    facts
  )
end

--- Remember an alias for the current project.
---@param alias string
function M.set(alias)
  local args = H.where()
  args.alias = alias
  host.call("set_alias", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    local msg = ("zeke: %s now uses %s"):format(H.cell(result.project), H.cell(result.alias))
    if not result.saved then
      msg = msg .. " (for this session only: the stats cache is unavailable)"
    end
    notify(msg)
    require("zeke.requests").set_alias(result.alias)
  end)
end

--- The lines of the :ZekeStats table: one row per (alias, model, provider) group,
--- columns by display width. `ok` is the share of requests that ran to an end
--- (cancelled ones, counted under `⊘`, are the user's choice, not failures); `~`
--- marks a token count that is partly zeke's estimate, `?` what no server reported.
--- Outcomes: `chg` changes proposed, `acc`/`rej` their hunks accepted and rejected,
--- `applied` changes applied of those settled, `$/applied` the group's cost per
--- applied change.
---@param result table  the host's answer: project, rows
---@param all boolean
---@return string[]
function M.stats_lines(result, all)
  local rows = type(result.rows) == "table" and result.rows or {}
  local header =
    { "alias", "model", "provider", "reqs", "ok", "⊘", "ttfb p50", "ttfb p95", "tok in", "tok out", "cost" }
  -- outcomes (the review's apply / reject)
  vim.list_extend(header, { "chg", "acc", "rej", "applied", "$/applied" })
  local right = { false, false, false, true, true, true, true, true, true, true, true, true, true, true, true, true }
  local body = {}
  for _, r in ipairs(rows) do
    local cost = status.format_cost(H.nz(r.cost_usd) and r.cost_usd or nil)
    if H.count(r.cost_unknown) > 0 and H.nz(r.cost_usd) then
      cost = cost .. "+?"
    end
    local tok_in = tostring(H.count(r.tokens_in))
    if H.count(r.tokens_in_estimated) > 0 then
      tok_in = "~" .. tok_in
    end
    table.insert(body, {
      H.cell(r.alias),
      H.cell(r.model) .. (r.degraded == true and " (degraded)" or ""),
      H.cell(r.provider),
      tostring(H.count(r.requests)),
      H.pct(r.success_rate),
      tostring(H.count(r.cancelled)),
      H.ms(r.median_ttfb_ms),
      H.ms(r.p95_ttfb_ms),
      tok_in,
      tostring(H.count(r.tokens_out)),
      cost,
      tostring(H.count(r.proposed)),
      tostring(H.count(r.hunks_accepted)),
      tostring(H.count(r.hunks_rejected)),
      H.nz(r.apply_rate) and H.pct(r.apply_rate) or "–",
      H.nz(r.cost_per_applied_usd) and status.format_cost(r.cost_per_applied_usd) or "–",
    })
  end
  local widths = {}
  for i, title in ipairs(header) do
    widths[i] = vim.fn.strdisplaywidth(title)
    for _, cells in ipairs(body) do
      widths[i] = math.max(widths[i], vim.fn.strdisplaywidth(cells[i]))
    end
    if not right[i] then
      widths[i] = math.min(widths[i], H.MAX_TARGET_WIDTH) -- a router's long name is cut with …
    end
  end
  local function line(cells)
    local out = {}
    for i, cell in ipairs(cells) do
      local gap = widths[i] - vim.fn.strdisplaywidth(cell)
      out[i] = right[i] and (string.rep(" ", gap) .. cell) or util.pad(cell, widths[i])
    end
    return (table.concat(out, " "):gsub("%s+$", ""))
  end
  local lines = { ("zeke stats — %s"):format(all and "all projects" or H.cell(result.project)), "", line(header) }
  if H.nz(result.prefs) then -- this project's routing prefs (:ZekePrefer, :ZekeBudget)
    lines[2] = ("routing prefs of %s: %s"):format(H.cell(result.project), H.cell(result.prefs))
  end
  for _, cells in ipairs(body) do
    table.insert(lines, line(cells))
  end
  if #rows == 0 then
    table.insert(lines, "(no requests recorded yet)")
  end
  return lines
end

--- :ZekeStats[!]
---@param all boolean
function M.stats(all)
  local args = H.where()
  args.all = all and true or false
  host.call("stats", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    H.show_table("zeke: stats", M.stats_lines(result, all))
  end)
end

--- The lines of the :ZekeAudit table.
---@param result table  the host's answer: project, rows
---@param all boolean
---@return string[]
function M.audit_lines(result, all)
  local rows = type(result.rows) == "table" and result.rows or {}
  local lines = {
    ("zeke tool-call audit — %s"):format(all and "all projects" or H.cell(result.project)),
    "",
    ("%-19s %-16s %-14s %-8s %-8s %s"):format("time", "tool", "decision", "result", "ms", "detail"),
  }
  for _, r in ipairs(rows) do
    local detail = (H.nz(r.detail) and util.one_line(r.detail) or "")
      .. (H.nz(r.args_digest) and (" #" .. H.cell(r.args_digest)) or "")
    table.insert(
      lines,
      ("%-19s %-16s %-14s %-8s %-8s %s"):format(
        os.date("%Y-%m-%d %H:%M:%S", H.count(r.created_at)),
        H.cell(r.tool),
        H.cell(r.decision),
        H.cell(r.result_status),
        H.nz(r.duration_ms) and H.cell(r.duration_ms) or "–",
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
  local args = H.where()
  args.all = all and true or false
  host.call("audit", args, function(result, err)
    if err then
      notify(err, vim.log.levels.ERROR)
      return
    end
    H.show_table("zeke: audit", M.audit_lines(result, all))
  end)
end

-- Private helpers --------------------------------------------------------------

--- Where a UI question is about: the current file, cwd, the configured project.
---@return table
function H.where()
  local name = api.nvim_buf_get_name(0)
  return {
    path = name ~= "" and vim.fn.fnamemodify(name, ":p") or nil,
    cwd = vim.fn.getcwd(),
    project = config.get().project,
  }
end

function H.nz(v)
  return v ~= nil
end

function H.pct(v)
  return H.nz(v) and ("%d%%"):format(math.floor(v * 100 + 0.5)) or "–"
end

function H.ms(v)
  return H.nz(v) and status.format_ms(v) or "–"
end

--- A cell of text from the host (model, provider, alias, detail: the router's or
--- a tool server's words): one line, "?" when missing.
function H.cell(v)
  return H.nz(v) and util.one_line(v) or "?"
end

--- What an alias points at: `model@provider`, or the router's choice.
---@param item table
---@return string
function H.target(item)
  if not H.nz(item.model) then
    return "router's choice"
  end
  return H.cell(item.model) .. (H.nz(item.provider) and ("@" .. H.cell(item.provider)) or "")
end

--- A count for a `%d` column (a missing or odd value must not break the table).
function H.count(v)
  return util.is_finite(v) and math.floor(v) or 0
end

--- A read-only scratch buffer with lines (stats, audit).
---@param name string
---@param lines string[]
---@return integer buf
function H.show_table(name, lines)
  local buf = util.find_buffer(name)
  if not buf then
    buf = util.scratch_buffer(name, "wipe")
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

return M
