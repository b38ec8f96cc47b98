--- The answer buffer: `zeke: explain #3`, markdown, read-only to the user, filled
--- as the answer streams in; its winbar is the answer's header (the badge for this
--- answer). `q` closes it, `<C-c>` cancels the request.

local config = require("zeke.config")
local status = require("zeke.status")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local ns = api.nvim_create_namespace("zeke.scratch")

--- The word for each command in answer buffer names.
H.WORDS = { ZekeRefactor = "refactor", ZekeTest = "test", ZekeExplain = "explain" }
--- How many answers of each command this session has opened (`#3` in the name).
H.counts = {} ---@type table<string, integer>
--- Hidden answers: the highlighting each had, to give back when it is shown again.
H.hidden = {} ---@type table<integer, { syntax: string, treesitter: boolean }>
--- How many answer buffers are kept: older ones no window shows are wiped (their
--- requests, text included, stay in zeke.requests). A kept answer costs memory
--- (a treesitter parser holds ~0.25 MB even when stopped).
H.KEEP_BUFFERS = 10
--- Answer buffers, oldest first.
H.order = {} ---@type integer[]
--- Faster than this (bytes per second), an answer streams unhighlighted: reparsing a
--- growing answer for every frame would cost more than the frame (about 2,000
--- tokens/s, more than models stream); the highlighting comes back after
--- H.QUIET_MS without text, and at the end.
H.FAST_BYTES = 8000
H.WINDOW_MS = 250
H.QUIET_MS = 300
--- The pace of each streaming answer: bytes in the current window, a paused highlighter.
H.flow = {} ---@type table<integer, { since: integer, bytes: integer, paused: boolean, timer: uv.uv_timer_t|nil }>
--- Answer buffers not yet made markdown: they get it after their first text is on
--- screen (H.decorate), so highlighting an empty buffer never delays the first token.
H.plain = {} ---@type table<integer, true>
--- The markdown treesitter queries, kept alive (H.markdown).
H.queries = nil ---@type (vim.treesitter.Query|false)[]|nil

-- Public -----------------------------------------------------------------------

--- Create the answer buffer for a request and show it beside the code (`beside`: in
--- a new window below the zeke window, so another answer stays in sight: :ZekeRetry).
---@param req zeke.Request
---@param how? { beside: boolean }
function M.open(req, how)
  local buf = util.scratch_buffer(H.name(req.command), "hide")
  vim.bo[buf].modifiable = false
  vim.b[buf].zeke_request = req.id
  req.buf = buf
  table.insert(H.order, buf)

  local opts = { buffer = buf, nowait = true, silent = true }
  vim.keymap.set("n", "q", function()
    M.close(buf)
  end, vim.tbl_extend("force", opts, { desc = "zeke: close the answer" }))
  vim.keymap.set("n", "<C-c>", function()
    require("zeke").cancel(vim.b[buf].zeke_request) -- a follow-up's, once one streams here
  end, vim.tbl_extend("force", opts, { desc = "zeke: cancel the request" }))
  vim.keymap.set("n", "ga", "<Cmd>ZekeApply<CR>", vim.tbl_extend("force", opts, { desc = "zeke: apply the change" }))
  vim.keymap.set("n", "gr", "<Cmd>ZekeReject<CR>", vim.tbl_extend("force", opts, { desc = "zeke: reject the change" }))
  require("zeke.why").map(buf) -- config ui.why_key (gR): the routing receipt
  local key = config.get().ui.followup_key
  if key then
    vim.keymap.set("n", key, function()
      require("zeke.thread").followup({ args = "" })
    end, vim.tbl_extend("force", opts, { desc = "zeke: follow up on this answer" }))
  end

  M.show(req, how and how.beside)
  H.trim()
  H.plain[buf] = true
  vim.schedule(function()
    if api.nvim_buf_is_valid(buf) then
      H.watch_visibility(buf)
    end
  end)
end

--- Show the request's buffer in the zeke window of this tab (made if missing).
---@param req zeke.Request
---@param beside? boolean  a new window below the zeke window, which keeps its answer
function M.show(req, beside)
  local cfg = config.get().ui
  local source_win = api.nvim_get_current_win()
  local win = M.find_window()
  if win and beside then
    api.nvim_win_call(win, function()
      vim.cmd("belowright split")
      win = api.nvim_get_current_win()
    end)
  elseif not win then
    if cfg.layout == "tab" then
      vim.cmd("tab split")
    elseif cfg.layout == "split" then
      vim.cmd("botright split")
    else
      vim.cmd("botright vsplit")
    end
    win = api.nvim_get_current_win()
    if cfg.layout == "vsplit" then
      api.nvim_win_set_width(win, H.size(cfg.width, vim.o.columns))
    elseif cfg.layout == "split" then
      api.nvim_win_set_height(win, H.size(cfg.width, vim.o.lines))
    end
  end
  api.nvim_win_set_buf(win, req.buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  vim.wo[win].signcolumn = "no"
  vim.wo[win].winfixwidth = true
  M.update_winbar(req)
  if not cfg.focus and api.nvim_win_is_valid(source_win) and cfg.layout ~= "tab" then
    api.nvim_set_current_win(source_win)
  end
end

--- Append streamed text at the end of the buffer; windows that were following
--- the end keep following it, a window the user scrolled up stays put.
---@param req zeke.Request
---@param text string
function M.append(req, text)
  local buf = req.buf
  if not buf or not api.nvim_buf_is_valid(buf) or text == "" then
    return
  end
  local followers = H.followers(buf)
  local last_row = api.nvim_buf_line_count(buf) - 1
  local last_line = api.nvim_buf_get_lines(buf, last_row, last_row + 1, true)[1]
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_text(buf, last_row, #last_line, last_row, #last_line, vim.split(text, "\n", { plain = true }))
  vim.bo[buf].modifiable = false
  H.follow(buf, followers)
  H.pace(buf, #text)
  if H.plain[buf] then
    H.first_text(buf)
  end
end

--- The answer is complete (or ended): highlighting paused for a fast stream comes back.
---@param req zeke.Request
function M.settle(req)
  if req.buf then
    H.decorate(req.buf)
    H.resume(req.buf)
  end
end

--- A banner line at the top (degraded mode), above the answer.
---@param req zeke.Request
---@param text string
function M.banner(req, text)
  local buf = req.buf
  if not buf or not api.nvim_buf_is_valid(buf) then
    return
  end
  api.nvim_buf_set_extmark(buf, ns, 0, 0, {
    virt_lines = { { { util.one_line(text), "WarningMsg" } } },
    virt_lines_above = true,
  })
  -- extmark virt_lines above line 1 need the view scrolled to show them
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    api.nvim_win_call(win, function()
      vim.fn.winrestview({ topfill = 1 })
    end)
  end
  M.update_winbar(req)
end

--- An error (or truncation) note below whatever text arrived; the text stays.
---@param req zeke.Request
---@param message string
function M.show_error(req, message)
  local buf = req.buf
  if not buf or not api.nvim_buf_is_valid(buf) then
    return
  end
  local lines = { "", "" }
  for _, l in ipairs(vim.split(message, "\n", { plain = true })) do
    table.insert(lines, "> " .. l)
  end
  local followers = H.followers(buf)
  local last_row = api.nvim_buf_line_count(buf) - 1
  local last_line = api.nvim_buf_get_lines(buf, last_row, last_row + 1, true)[1]
  if last_row == 0 and last_line == "" then
    lines = vim.list_slice(lines, 3)
    table.insert(lines, 1, "")
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_text(buf, last_row, #last_line, last_row, #last_line, lines)
  vim.bo[buf].modifiable = false
  local first = api.nvim_buf_line_count(buf) - #lines + 1
  local last_now = api.nvim_buf_line_count(buf)
  api.nvim_buf_set_extmark(buf, ns, math.max(first, 0), 0, { end_row = last_now, hl_group = "ErrorMsg", hl_eol = true })
  H.follow(buf, followers)
end

--- A follow-up starts in the thread's answer buffer: a separator, the question, and
--- the answer's own header (who answered, latency, tokens, cost) on the separator.
---@param req zeke.Request
---@param question string
function M.section(req, question)
  local buf = req.buf
  if not buf or not api.nvim_buf_is_valid(buf) then
    return
  end
  M.append(req, "\n\n---\n\n> " .. util.one_line(question) .. "\n\n")
  local row = api.nvim_buf_line_count(buf) - 5
  req.header = api.nvim_buf_set_extmark(buf, ns, row, 0, { virt_text = H.header(req) })
end

--- The winbar shows who answered and what it cost, as it becomes known; in a narrow
--- window it is cut at the end (`%<`), so the marker and the alias stay. A follow-up's
--- header in the buffer follows too.
---@param req zeke.Request
function M.update_winbar(req)
  if not req.buf or not api.nvim_buf_is_valid(req.buf) then
    return
  end
  if req.header then
    local pos = api.nvim_buf_get_extmark_by_id(req.buf, ns, req.header, {})
    if pos[1] then
      api.nvim_buf_set_extmark(req.buf, ns, pos[1], 0, { id = req.header, virt_text = H.header(req) })
    end
  end
  local desc = status.describe(req)
  if req.thread_dropped then
    desc = desc .. " · " .. req.thread_dropped
  end
  local text = util.statusline_escape(desc) .. "%<"
  for _, win in ipairs(vim.fn.win_findbuf(req.buf)) do
    vim.wo[win].winbar = text
  end
end

---@param buf integer
function M.close(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if #api.nvim_list_wins() > 1 then
      pcall(api.nvim_win_close, win, false)
    end
  end
end

--- Answer buffers of requests zeke no longer keeps (zeke.requests dropped them)
--- go, unless they are on screen.
---@param reqs zeke.Request[]
function M.discard(reqs)
  for _, req in ipairs(reqs) do
    local buf = req.buf
    if buf and api.nvim_buf_is_valid(buf) and #vim.fn.win_findbuf(buf) == 0 then
      H.wipe(buf)
    end
  end
end

--- The window in this tab that shows a zeke answer buffer.
---@return integer|nil
function M.find_window()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    local b = api.nvim_win_get_buf(win)
    if vim.b[b].zeke_request then
      return win
    end
  end
end

-- Private helpers --------------------------------------------------------------

--- A follow-up's header: `follow-up 2 · zeke ✓ code-fast→model $0.001 420ms · 95 tok`.
---@param req zeke.Request
---@return table virt_text chunks
function H.header(req)
  local text = ("follow-up %d · %s"):format((req.turn or 2) - 1, status.describe(req))
  local tokens = (req.tokens_in or 0) + (req.tokens_out or 0)
  if tokens > 0 then
    text = text .. (" · %d tok"):format(tokens)
  end
  return { { " " .. text, "Title" } }
end

--- Count the bytes an answer got; past H.FAST_BYTES per second its treesitter
--- highlighter stops until H.QUIET_MS pass without text (or the answer ends).
---@param buf integer
---@param n integer
function H.pace(buf, n)
  local f = H.flow[buf]
  local now = vim.uv.now()
  if not f then
    f = { since = now, bytes = 0, paused = false }
    H.flow[buf] = f
  elseif now - f.since > H.WINDOW_MS then
    f.since, f.bytes = now, 0
  end
  f.bytes = f.bytes + n
  if not f.paused and f.bytes > H.FAST_BYTES * H.WINDOW_MS / 1000 and vim.treesitter.highlighter.active[buf] then
    f.paused = true
    pcall(H.without_syntax_event, function()
      vim.treesitter.stop(buf)
      vim.bo[buf].syntax = "" -- (stopping set it to markdown, not loaded)
    end)
  end
  if f.paused then
    f.timer = f.timer or vim.uv.new_timer()
    f.timer:start(
      H.QUIET_MS,
      0,
      vim.schedule_wrap(function()
        H.resume(buf, true)
      end)
    )
  end
end

--- Highlighting paused by H.pace comes back (now if a window shows the answer, else
--- when one does); `quiet`: the stream only paused, its pace is counted anew.
---@param buf integer
---@param quiet boolean|nil
function H.resume(buf, quiet)
  local f = H.flow[buf]
  if not f then
    return
  end
  if f.timer then
    f.timer:stop()
  end
  if quiet then
    f.since, f.bytes = vim.uv.now(), 0
  else
    if f.timer then
      f.timer:close()
    end
    H.flow[buf] = nil
  end
  if not f.paused then
    return
  end
  f.paused = false
  if not api.nvim_buf_is_valid(buf) then
    return
  end
  if H.hidden[buf] then
    H.hidden[buf].treesitter = true
  elseif #vim.fn.win_findbuf(buf) > 0 and not vim.treesitter.highlighter.active[buf] then
    pcall(vim.treesitter.start, buf, "markdown")
  end
end

--- Wipe an answer buffer. With the Syntax event ignored: its treesitter highlighter,
--- detached by the wipe, sets the regex syntax back (a markdown answer: ~9 ms to load
--- it into a buffer that is going away).
---@param buf integer
function H.wipe(buf)
  pcall(H.without_syntax_event, function()
    api.nvim_buf_delete(buf, { force = true })
  end)
end

--- Keep the last H.KEEP_BUFFERS answer buffers: older ones go unless a window shows
--- them, their request still streams or its change waits for review.
function H.trim()
  local live = {}
  for _, b in ipairs(H.order) do
    if api.nvim_buf_is_valid(b) then
      table.insert(live, b)
    end
  end
  local requests = require("zeke.requests")
  local pending = {} ---@type table<string, true>
  local review = package.loaded["zeke.review"] -- not loaded: no change was offered yet
  for _, r in pairs(review and review.pending or {}) do
    pending[r.req.id] = true
  end
  local keep, extra = {}, #live - H.KEEP_BUFFERS
  for _, b in ipairs(live) do
    local id = vim.b[b].zeke_request
    local req = id and requests.get(id)
    local busy = (req and req.state == "streaming") or (id and pending[id])
    if extra > 0 and not busy and #vim.fn.win_findbuf(b) == 0 then
      extra = extra - 1
      H.wipe(b)
    else
      table.insert(keep, b)
    end
  end
  H.order = keep
end

--- Run `fn` with the Syntax event ignored: the filetype (ftplugin, the user's FileType
--- autocommands) without loading a regex syntax.
---@param fn fun()
function H.without_syntax_event(fn)
  local ei = vim.o.eventignore
  vim.o.eventignore = ei == "" and "Syntax" or ei .. ",Syntax"
  local ok, err = pcall(fn)
  vim.o.eventignore = ei
  if not ok then
    error(err, 0)
  end
end

--- An answer's first text goes to the screen before its highlighting starts: the
--- markdown of a new buffer (filetype, treesitter's first parse) takes 2-6 ms, and
--- run first it would hold the first token back. Not in a prompt or the command
--- line, where a redraw would wipe what Neovim shows there (the text then comes
--- with its highlighting).
---@param buf integer
function H.first_text(buf)
  local mode = api.nvim_get_mode()
  if not mode.blocking and not mode.mode:match("^[rc]") then
    vim.cmd("redraw")
  end
  vim.schedule(function()
    H.decorate(buf)
  end)
end

--- The answer becomes markdown (once); hidden by now, it keeps no highlighting
--- until a window shows it.
---@param buf integer
function H.decorate(buf)
  if not H.plain[buf] or not api.nvim_buf_is_valid(buf) then
    return
  end
  H.plain[buf] = nil
  H.markdown(buf)
  if #vim.fn.win_findbuf(buf) == 0 then
    H.drop_highlighting(buf)
  end
end

--- filetype=markdown, highlighted by treesitter (the markdown parser ships with
--- Neovim): markdown's regex syntax (with the html, css and javascript it includes)
--- takes ~10 ms per answer to load, holds ~1 MB per answer, and redrawing the end of
--- a long fast-growing answer with it takes tens of ms per frame; treesitter parses
--- each append incrementally. Without the parser, the regex syntax as before.
---@param buf integer
function H.markdown(buf)
  if not vim.treesitter.language.add("markdown") then
    vim.bo[buf].filetype = "markdown"
    return
  end
  H.without_syntax_event(function()
    vim.bo[buf].filetype = "markdown"
  end)
  if api.nvim_buf_is_valid(buf) and not vim.treesitter.highlighter.active[buf] then
    -- (a FileType autocommand of the user's may have started it already)
    local ok = pcall(vim.treesitter.start, buf, "markdown")
    if not ok then
      vim.bo[buf].syntax = "markdown"
      return
    end
  end
  -- Neovim caches parsed queries weakly: held here, the next answer does not parse
  -- them again (~15 ms) in the middle of its first frames
  if not H.queries then
    H.queries = {}
    for _, lang in ipairs({ "markdown", "markdown_inline" }) do
      for _, name in ipairs({ "highlights", "injections" }) do
        table.insert(H.queries, vim.treesitter.query.get(lang, name) or false)
      end
    end
  end
end

--- A kept answer that no window shows holds no highlighting (regex syntax items cost
--- about 1 MB per answer, a treesitter tree grows with the answer); shown again, it
--- gets it back.
---@param buf integer
function H.watch_visibility(buf)
  local group = api.nvim_create_augroup("zeke.scratch." .. buf, { clear = true })
  api.nvim_create_autocmd("BufHidden", {
    group = group,
    buffer = buf,
    callback = function()
      H.drop_highlighting(buf)
    end,
  })
  api.nvim_create_autocmd("BufWinEnter", {
    group = group,
    buffer = buf,
    callback = function()
      local was = H.hidden[buf]
      if not was then
        return
      end
      H.hidden[buf] = nil
      vim.bo[buf].syntax = was.syntax
      if was.treesitter then
        pcall(vim.treesitter.start, buf, "markdown")
      end
    end,
  })
  api.nvim_create_autocmd("BufWipeout", {
    group = group,
    buffer = buf,
    callback = function()
      H.hidden[buf], H.plain[buf] = nil, nil
      local f = H.flow[buf]
      if f and f.timer then
        f.timer:close()
      end
      H.flow[buf] = nil
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
end

--- A hidden answer's highlighting goes, remembered for when it is shown again.
---@param buf integer
function H.drop_highlighting(buf)
  local ts = vim.treesitter.highlighter.active[buf] ~= nil
  H.hidden[buf] = { syntax = vim.bo[buf].syntax, treesitter = ts }
  if ts then
    -- stopping treesitter sets the regex syntax again: not loaded, only cleared
    pcall(H.without_syntax_event, function()
      vim.treesitter.stop(buf)
    end)
  end
  vim.bo[buf].syntax = "OFF"
end

--- A short name for the next answer of this command: `zeke: explain #3`.
---@param command string
---@return string
function H.name(command)
  local word = H.WORDS[command] or command
  local name
  repeat -- skip names taken (by a buffer left from before a :lua reload, say)
    H.counts[word] = (H.counts[word] or 0) + 1
    name = ("zeke: %s #%d"):format(word, H.counts[word])
  until not util.find_buffer(name)
  return name
end

--- The window size for `ui.width`: a fraction (<= 1) of the screen, else a number
--- of columns (lines); always a whole number the screen can hold.
---@param width number|nil
---@param screen integer
---@return integer
function H.size(width, screen)
  if type(width) ~= "number" or width ~= width or width <= 0 then
    width = 0.4
  end
  local n = width <= 1 and screen * width or width
  return math.max(1, math.min(math.floor(n), screen))
end

--- The windows showing the end of the buffer (they keep following it).
---@param buf integer
---@return integer[]
function H.followers(buf)
  local out = {}
  local last = api.nvim_buf_line_count(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if api.nvim_win_get_cursor(win)[1] >= last then
      table.insert(out, win)
    end
  end
  return out
end

---@param buf integer
---@param wins integer[]
function H.follow(buf, wins)
  local last = api.nvim_buf_line_count(buf)
  for _, win in ipairs(wins) do
    if api.nvim_win_is_valid(win) then
      pcall(api.nvim_win_set_cursor, win, { last, 0 })
    end
  end
end

return M
