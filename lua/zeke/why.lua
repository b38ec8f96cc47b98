--- :ZekeWhy (the routing receipt in a float; `gR` in an answer buffer), :ZekePrefer
--- and :ZekeBudget (this project's routing prefs). The host builds the receipt's
--- lines and checks the prefs' arguments (engine/receipt.py, engine/prefs.py); this
--- module only asks and shows.

local config = require("zeke.config")
local host = require("zeke.host")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api

--- The receipt's float, while it is open.
M.win = nil ---@type integer|nil

--- :ZekeWhy [id]: the receipt of the request the answer buffer shows, else of `id`,
--- else of the last request.
---@param id string|nil
function M.why(id)
  local rid = id or vim.b.zeke_request or require("zeke.requests").last_id
  local args = H.where()
  args.id = rid
  host.call("why", args, function(result, err)
    if err then
      util.notify(err, vim.log.levels.WARN)
      return
    end
    M.show(result.lines or {})
  end)
end

--- Show lines (server text: each made one line of plain text) in a centred float;
--- `q` or <Esc> closes it.
---@param lines string[]
---@return integer buf
function M.show(lines)
  local safe, width = {}, 20
  for i, line in ipairs(lines) do
    safe[i] = util.one_line(line)
    width = math.max(width, vim.fn.strdisplaywidth(safe[i]))
  end
  if M.win and api.nvim_win_is_valid(M.win) then
    api.nvim_win_close(M.win, true)
  end
  local buf = api.nvim_create_buf(false, true)
  api.nvim_buf_set_lines(buf, 0, -1, false, safe)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = "wipe"
  width = math.min(width + 2, math.max(20, vim.o.columns - 4))
  local height = math.min(#safe, math.max(1, vim.o.lines - 4))
  M.win = api.nvim_open_win(buf, true, {
    relative = "editor",
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = "minimal",
    border = "rounded",
    title = " zeke why ",
  })
  vim.wo[M.win].wrap = false
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, "<Cmd>close<CR>", { buffer = buf, nowait = true, silent = true })
  end
  return buf
end

--- :ZekePrefer local|cloud|auto
---@param arg string
function M.prefer(arg)
  H.set({ prefer = arg })
end

--- :ZekeBudget {cents}|off
---@param arg string
function M.budget(arg)
  H.set({ budget = arg })
end

--- The answer buffer's keys for the receipt (config `ui.why_key`; false: none).
---@param buf integer
function M.map(buf)
  local key = config.get().ui.why_key
  if type(key) == "string" and key ~= "" then
    vim.keymap.set("n", key, function()
      M.why()
    end, { buffer = buf, nowait = true, silent = true, desc = "zeke: why this model (the routing receipt)" })
  end
end

--- Complete :ZekePrefer's argument.
---@param arglead string
---@return string[]
function M.complete_prefer(arglead)
  return vim.tbl_filter(function(c)
    return c:sub(1, #arglead) == arglead
  end, { "local", "cloud", "auto" })
end

-- Private helpers --------------------------------------------------------------

function H.where()
  local name = api.nvim_buf_get_name(0)
  return {
    path = name ~= "" and vim.bo.buftype == "" and vim.fn.fnamemodify(name, ":p") or nil,
    cwd = vim.fn.getcwd(),
    project = config.get().project,
  }
end

--- Ask the host to check and store a pref; it names the allowed values when not.
---@param what { prefer?: string, budget?: string }
function H.set(what)
  local args = vim.tbl_extend("force", H.where(), what)
  host.call("set_prefs", args, function(result, err)
    if err then
      util.notify(err, vim.log.levels.ERROR)
      return
    end
    local msg = ("zeke: %s: %s"):format(util.one_line(result.project), util.one_line(result.summary))
    if not result.saved then
      msg = msg .. " (not saved: the stats cache is unavailable)"
    end
    util.notify(msg)
  end)
end

return M
