--- zeke.nvim — hand a selection to the OMEN router, watch the answer stream in,
--- see who answered and what it cost, apply the change after review.
---
--- Public API: setup(), statusline(), escape(), last(), cancel().
--- Status for statuslines: vim.g.zeke_status + `User ZekeStatus`.

local M = {}
local H = {}

-- Setup --------------------------------------------------------------------------

--- Optional: the plugin works on defaults and on `vim.g.zeke`.
---@param opts table|nil
function M.setup(opts)
  local config = require("zeke.config")
  config.set(opts)
  config.get()
  require("zeke.host").push_config()
end

-- Public -------------------------------------------------------------------------

--- The statusline badge: alias→model, provider, cost, latency and markers for
--- streaming, error, over-budget and degraded mode. No RPC. Escaped for a
--- statusline format (`%` doubled, one line): use it in `%{%…%}`, `%!` or lualine.
---@return string
function M.statusline()
  return require("zeke.status").statusline()
end

--- Make text safe for a 'statusline' / 'winbar' / 'tabline' format: one line,
--- `%` doubled. For statuslines built from the raw `vim.g.zeke_status` fields.
---@param s any
---@return string
function M.escape(s)
  return require("zeke.util").statusline_escape(s)
end

--- The most recent request (the fields `:help zeke.last()` lists), or nil.
---@return table|nil
function M.last()
  local requests = package.loaded["zeke.requests"]
  return requests and requests.last() or nil
end

--- Cancel the running request (or the one with this id). The partial text stays.
---@param id string|nil
function M.cancel(id)
  require("zeke.commands").cancel(id)
end

--- Entry point of every user command (plugin/zeke.lua keeps startup cheap).
---@param name string
---@param args table
function M._command(name, args)
  local ok, err = xpcall(H.dispatch[name], debug.traceback, args)
  if not ok then
    require("zeke.util").notify(("zeke: %s failed: %s"):format(name, err), vim.log.levels.ERROR)
  end
end

-- Private helpers ----------------------------------------------------------------

--- What each user command does.
H.dispatch = {
  ZekeRefactor = function(args)
    require("zeke.commands").ask("ZekeRefactor", args)
  end,
  ZekeTest = function(args)
    require("zeke.commands").ask("ZekeTest", args)
  end,
  ZekeExplain = function(args)
    require("zeke.commands").ask("ZekeExplain", args)
  end,
  ZekeFollowup = function(args)
    require("zeke.thread").followup(args)
  end,
  ZekeRetry = function(args)
    require("zeke.thread").retry(args.args ~= "" and args.args or nil)
  end,
  ZekeCancel = function()
    M.cancel()
  end,
  ZekeModel = function(args)
    require("zeke.picker").run(args.args ~= "" and args.args or nil)
  end,
  ZekeStats = function(args)
    require("zeke.picker").stats(args.bang)
  end,
  ZekeAudit = function(args)
    require("zeke.picker").audit(args.bang)
  end,
  ZekeHistory = function(args)
    require("zeke.history").list(args.bang)
  end,
  ZekeApply = function()
    require("zeke.review").apply_all()
  end,
  ZekeReject = function()
    require("zeke.review").reject_all()
  end,
  ZekeReview = function()
    require("zeke.review").show()
  end,
  ZekeDoctor = function()
    vim.cmd("checkhealth zeke")
  end,
  ZekeWhy = function(args)
    require("zeke.why").why(args.args ~= "" and args.args or nil)
  end,
  ZekePrefer = function(args)
    require("zeke.why").prefer(args.args)
  end,
  ZekeBudget = function(args)
    require("zeke.why").budget(args.args)
  end,
}

return M
