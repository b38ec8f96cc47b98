--- The diff view shared by change reviews and tool-call consent: hunks rendered as
--- lines with highlights, and this tab's one review window (a split below the answer,
--- or a float when there is no room). No state: `zeke.review` keeps which change is
--- shown, `zeke.consent` asks about a tool's write.

local M = {}
local H = {}

local api = vim.api
local ns = api.nvim_create_namespace("zeke.review")

-- Public -----------------------------------------------------------------------

--- A path as the user knows it: relative to the cwd or home.
---@param path string|nil
---@return string
function M.short(path)
  if not path or path == "" then
    return "the buffer"
  end
  return vim.fn.fnamemodify(path, ":~:.")
end

--- Render hunks into lines + highlight spans; also returns each hunk's header row.
---@param title string[]
---@param hunks table[]
---@param decisions table<integer, string>|nil
---@return string[] lines, table[] marks, table<integer, integer> rows
function M.render(title, hunks, decisions)
  local lines, marks, rows = {}, {}, {}
  for _, t in ipairs(title) do
    table.insert(lines, t)
    table.insert(marks, { #lines - 1, "Comment" })
  end
  for _, h in ipairs(hunks) do
    table.insert(lines, "")
    local state = decisions and decisions[h.index] or nil
    local label = state == "accept" and "  [accepted]" or state == "reject" and "  [rejected]" or ""
    table.insert(lines, ("%s  hunk %d%s"):format(h.header, h.index + 1, label))
    rows[h.index] = #lines - 1
    table.insert(marks, { #lines - 1, state == "reject" and "Comment" or "Title" })
    for _, l in ipairs(h.old_lines) do
      table.insert(lines, "-" .. l)
      table.insert(marks, { #lines - 1, state == "reject" and "Comment" or "DiffDelete" })
    end
    for _, l in ipairs(h.new_lines) do
      table.insert(lines, "+" .. l)
      table.insert(marks, { #lines - 1, state == "reject" and "Comment" or "DiffAdd" })
    end
  end
  return lines, marks, rows
end

--- Replace a view buffer's text and highlights; windows showing it keep their cursor.
---@param buf integer
---@param lines string[]
---@param marks table[]
function M.fill(buf, lines, marks)
  local cursors = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    cursors[win] = api.nvim_win_get_cursor(win)
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  for _, m in ipairs(marks) do
    api.nvim_buf_set_extmark(buf, ns, m[1], 0, { line_hl_group = m[2] })
  end
  for win, pos in pairs(cursors) do
    pcall(api.nvim_win_set_cursor, win, { math.min(pos[1], #lines), pos[2] })
  end
end

--- This tab's review window, if it is open (and still shows a review or consent view).
---@return integer|nil
function M.window()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if vim.w[win].zeke_review and vim.b[api.nvim_win_get_buf(win)].zeke_review then
      return win
    end
  end
end

--- Show a review or consent buffer in this tab's review window (made if missing).
---@param buf integer
---@return integer|nil win
function M.place(buf)
  local win = M.window()
  if not win then
    return H.open_window(buf)
  end
  if api.nvim_win_get_buf(win) ~= buf then
    api.nvim_win_set_buf(win, buf)
  end
  return win
end

-- Private helpers --------------------------------------------------------------

--- A new review window without moving the cursor: a split below the answer window
--- (at the bottom when there is none), or a floating window when there is no room
--- for a split (E36): a float needs none, so a change is always shown.
---@param buf integer
---@return integer|nil
function H.open_window(buf)
  local answer = require("zeke.scratch").find_window()
  local ok, win = pcall(api.nvim_open_win, buf, false, { split = "below", win = answer or -1 })
  if not ok then
    local height = math.max(1, math.floor((vim.o.lines - vim.o.cmdheight) / 2) - 2)
    ok, win = pcall(api.nvim_open_win, buf, false, {
      relative = "editor",
      row = math.max(0, vim.o.lines - vim.o.cmdheight - height - 2),
      col = 0,
      width = math.max(1, vim.o.columns - 2),
      height = height,
      border = "single",
      title = " zeke review ",
    })
    if not ok then
      return nil
    end
  end
  vim.w[win].zeke_review = true
  for name, value in pairs({ number = false, relativenumber = false, wrap = false }) do
    api.nvim_set_option_value(name, value, { scope = "local", win = win })
  end
  return win
end

return M
