--- The user commands. Each one gathers what it needs from the editor (cheap,
--- synchronous), then hands the work to the host and returns at once.

local config = require("zeke.config")
local host = require("zeke.host")
local requests = require("zeke.requests")
local scratch = require("zeke.scratch")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local anchor_ns = api.nvim_create_namespace("zeke.anchor")

H.INTENTS = {
  ZekeRefactor = "code",
  ZekeTest = "tests",
  ZekeExplain = "reason",
}

-- Selection --------------------------------------------------------------------

---@class zeke.Selection
---@field buf integer
---@field start_line integer 1-based, inclusive: the first line the selection touches
---@field end_line integer 1-based, inclusive: the last line it touches
---@field start_col integer|nil charwise (`v`) only: 0-based byte column on start_line
---@field end_col integer|nil charwise only: 0-based byte column on end_line, exclusive
---@field blockwise boolean|nil a block (`<C-v>`): not sent (M.BLOCKWISE says why)

M.BLOCKWISE = "zeke: a block selection (<C-v>) is not supported; select lines (V) or characters (v)"

--- The selection a command acts on: the live visual selection when the command
--- runs while visual mode is still active (a `<Cmd>` mapping: the `'<`/`'>`
--- marks are stale then), else the command's range (the last visual selection when
--- the range is `'<,'>`), else the cursor line.
--- Visual mode ends here, and the screen is redrawn at once: else the next
--- statusline redraw (the request's status) leaves `-- VISUAL LINE --` standing.
---@param args table|nil  the user-command args (line1, line2, range; cmdline: plugin/zeke.lua)
---@return zeke.Selection
function M.selection(args)
  local buf = api.nvim_get_current_buf()
  local mode = api.nvim_get_mode().mode:sub(1, 1)
  if mode == "v" or mode == "V" or mode == "\22" then
    api.nvim_feedkeys(api.nvim_replace_termcodes("<Esc>", true, false, true), "nx", false)
    vim.cmd.redraw()
    return H.from_marks(buf, mode) -- leaving visual mode set the marks to it
  end
  if args and args.range and args.range > 0 then
    if H.from_visual(args) then
      return H.from_marks(buf, vim.fn.visualmode())
    end
    return { buf = buf, start_line = args.line1, end_line = args.line2 }
  end
  local row = api.nvim_win_get_cursor(0)[1]
  return { buf = buf, start_line = row, end_line = row }
end

-- Vision -----------------------------------------------------------------------

--- The file name endings taken for an image (the host checks the bytes: images.py).
H.IMAGE_EXT = { png = true, jpg = true, jpeg = true, gif = true, webp = true }

---@param name string
---@return boolean
function H.image_name(name)
  local ext = name:match("%.([%w]+)$")
  return ext ~= nil and H.IMAGE_EXT[ext:lower()] == true
end

--- The image :ZekeExplain is about, and what is left of its argument: the first word
--- of the argument when it names an existing image file, else the buffer's own file
--- when that is one. nil: not a vision request (the argument is an instruction).
---@param buf integer
---@param argstr string
---@return string|nil path absolute
---@return string instruction
function H.image_of(buf, argstr)
  local first, rest = argstr:match("^%s*(%S+)%s*(.-)%s*$")
  if first and H.image_name(first) and vim.fn.filereadable(vim.fn.expand(first)) == 1 then
    return vim.fn.fnamemodify(vim.fn.expand(first), ":p"), rest or ""
  end
  local name = api.nvim_buf_get_name(buf)
  if name ~= "" and H.image_name(name) and vim.fn.filereadable(name) == 1 then
    return vim.fn.fnamemodify(name, ":p"), argstr
  end
  return nil, argstr
end

-- Public -----------------------------------------------------------------------

--- :ZekeRefactor / :ZekeTest / :ZekeExplain
---@param command "ZekeRefactor"|"ZekeTest"|"ZekeExplain"
---@param args table
function M.ask(command, args)
  local sel = M.selection(args)
  if sel.blockwise then -- refused before anything starts or is sent
    util.notify(M.BLOCKWISE, vim.log.levels.WARN)
    return
  end
  host.recover() -- before this request exists: what ends with an old host is not it
  if vim.bo[sel.buf].buftype ~= "" then
    local msg = "zeke: run this from a file buffer (this one is " .. vim.bo[sel.buf].buftype .. ")"
    util.notify(msg, vim.log.levels.WARN)
    return
  end
  -- A host that is not running starts now: its start (~200 ms) overlaps reading the
  -- context below. One that cannot start is reported by the notify further down.
  host.ensure()
  local image, instruction = nil, args.args or ""
  if command == "ZekeExplain" then
    image, instruction = H.image_of(sel.buf, instruction)
  end
  local payload = H.context_payload(sel)
  payload.id = M.new_id()
  payload.intent = H.INTENTS[command]
  payload.instruction = instruction
  if image then -- vision: the host reads the file; the buffer's lines are not sent
    payload.image = image
    payload.intent = "vision"
    payload.lines, payload.diagnostics = {}, {}
  end
  payload.project = config.get().project

  ---@type zeke.Request
  local req = {
    id = payload.id,
    command = command,
    intent = payload.intent,
    started = vim.uv.hrtime(),
    thread = payload.id, -- a fresh request starts a conversation (zeke.thread)
    turn = 1,
    source = {
      buf = sel.buf,
      start_line = sel.start_line,
      end_line = sel.end_line,
      text = api.nvim_buf_get_lines(sel.buf, sel.start_line - 1, sel.end_line, false),
      path = payload.path,
      filetype = payload.filetype,
      -- follows the selection through edits above it while the answer streams
      mark = payload.intent == "code" and api.nvim_buf_set_extmark(sel.buf, anchor_ns, sel.start_line - 1, 0, {})
        or nil,
    },
  }
  scratch.discard(requests.add(req))
  -- from here on the request must reach a final state, whatever fails.
  -- The request leaves first: the answer window is built while it travels (the host's
  -- events are handled only after this function returns, so none can miss the buffer).
  local ok, err = host.notify("request", payload)
  local opened, open_err = pcall(scratch.open, req)
  if not opened then
    local why = "zeke: could not open the answer window: " .. tostring(open_err)
    req.error = why
    util.notify(why, vim.log.levels.ERROR)
    if ok then
      host.notify("cancel", { id = req.id })
    end
    requests.finish(req, "error")
    return
  end
  if not ok then
    req.error = err
    scratch.show_error(req, err)
    util.notify(err, vim.log.levels.ERROR)
    requests.finish(req, "error")
  end
end

--- How long the host has to confirm a cancel (it does at once) before the request
--- is ended here: a cancel always ends the request within a second.
M.CANCEL_GRACE_MS = 750

--- :ZekeCancel — stop the running request (or the one given); the text stays.
---@param id string|nil
function M.cancel(id)
  local req = id and requests.get(id) or requests.running()
  if not req or req.state ~= "streaming" then
    util.notify("zeke: nothing is running")
    return
  end
  if not host.chan then
    req.error = "zeke: cancelled"
    requests.finish(req, "cancelled")
    return
  end
  local chan = host.chan
  if host.suspect == chan then -- it already left a cancel unanswered: do not wait again
    H.cancel_here(req, "the host is not answering (the next command starts a new one)")
    return
  end
  if not host.notify("cancel", { id = req.id }) then
    H.cancel_here(req, "the host could not be reached")
    return
  end
  vim.defer_fn(function()
    if req.state == "streaming" then
      host.not_answering(chan)
      H.cancel_here(req, "the host is not answering (the next command starts a new one)")
    end
  end, M.CANCEL_GRACE_MS)
end

--- Alias names for completion: configured ones plus auto.
---@param arglead string
---@return string[]
function M.complete_alias(arglead)
  local names = { "auto" }
  for name in pairs(config.get().aliases) do
    table.insert(names, name)
  end
  table.sort(names)
  return vim.tbl_filter(function(n)
    return vim.startswith(n, arglead or "")
  end, names)
end

-- Private helpers --------------------------------------------------------------

--- Lines around the selection plus what the packer needs; never the whole file.
---@param sel zeke.Selection
---@return table
function H.context_payload(sel)
  local cfg = config.get()
  local total = api.nvim_buf_line_count(sel.buf)
  local first = math.max(1, sel.start_line - cfg.context_lines)
  local last = math.min(total, sel.end_line + cfg.context_lines)
  local lines = api.nvim_buf_get_lines(sel.buf, first - 1, last, false)
  local diagnostics = {}
  local ok, diags = pcall(vim.diagnostic.get, sel.buf)
  if ok then
    for _, d in ipairs(diags) do
      if d.lnum + 1 >= sel.start_line - 3 and d.lnum + 1 <= sel.end_line + 3 then
        table.insert(diagnostics, {
          lnum = d.lnum,
          col = d.col,
          severity = d.severity,
          message = d.message,
          source = d.source,
        })
      end
    end
  end
  local path = api.nvim_buf_get_name(sel.buf)
  return {
    lines = lines,
    window_start = first,
    start_line = sel.start_line,
    end_line = sel.end_line,
    start_col = sel.start_col,
    end_col = sel.end_col,
    total_lines = total,
    path = path ~= "" and vim.fn.fnamemodify(path, ":p") or nil,
    filetype = vim.bo[sel.buf].filetype,
    diagnostics = diagnostics,
    cwd = vim.fn.getcwd(),
  }
end

--- Does a range command act on the last visual selection? Its range is `'<,'>`: a
--- typed one (`:` after `v` gives it) is read from the command line; one run from
--- Lua or a script, whose text is unknown, is taken as such when its lines are the
--- marks' lines. A typed `:10,20` is lines, whatever the marks say.
---@param args table
---@return boolean
function H.from_visual(args)
  if args.range ~= 2 then
    return false
  end
  local range = args.cmdline and args.cmdline:match("^[%s:]*([^%a]*)Zeke")
  if range then
    return range:match("^'<%s*,%s*'>%s*$") ~= nil
  end
  return args.line1 == vim.fn.line("'<") and args.line2 == vim.fn.line("'>")
end

--- The selection the `'<`/`'>` marks hold, made in visual mode ``vmode``.
---@param buf integer
---@param vmode string "v", "V" or "\22" (CTRL-V)
---@return zeke.Selection
function H.from_marks(buf, vmode)
  local s, e = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  if vmode == "\22" then
    return { buf = buf, start_line = s[2], end_line = e[2], blockwise = true }
  end
  if vmode ~= "v" then
    return { buf = buf, start_line = s[2], end_line = e[2] }
  end
  return H.charwise(buf, s[2], s[3], e[2], e[3])
end

--- A charwise selection from its marks (1-based lines and byte columns, the last
--- character included): byte columns, the end exclusive. A column past the end of
--- its line (`v$`, `v` on an empty line) takes the line's newline: the span ends at
--- column 0 of the next line. Whole lines, newline and all, are a linewise selection.
---@param buf integer
---@param sl integer
---@param sc integer
---@param el integer
---@param ec integer
---@return zeke.Selection
function H.charwise(buf, sl, sc, el, ec)
  local first = api.nvim_buf_get_lines(buf, sl - 1, sl, false)[1] or ""
  local last = api.nvim_buf_get_lines(buf, el - 1, el, false)[1] or ""
  local start_col = math.min(sc - 1, #first)
  local end_col
  if vim.o.selection == "exclusive" then
    end_col = math.min(ec - 1, #last) -- the mark is just past the selection
  elseif ec > #last then
    if el < api.nvim_buf_line_count(buf) then
      el, end_col = el + 1, 0
    else
      end_col = #last -- the buffer's last line: no newline to take
    end
  else
    -- the mark is the last character's first byte; `.` takes its composing characters too
    local char = vim.fn.matchstr(last, ("\\%%%dc."):format(ec))
    end_col = ec - 1 + math.max(#char, 1)
  end
  if start_col == 0 and end_col == 0 and el > sl then
    return { buf = buf, start_line = sl, end_line = el - 1 }
  end
  return { buf = buf, start_line = sl, end_line = el, start_col = start_col, end_col = end_col }
end

--- A UUID (v4 layout): it doubles as X-Request-ID, which some OpenAI-compatible
--- servers (llama.cpp's) reject unless it is UUID-shaped.
---@return string
function M.new_id()
  local hex = vim.fn.sha256(("%d-%d-%s"):format(vim.uv.hrtime(), vim.fn.getpid(), tostring(math.random())))
  local variant = ("89ab"):sub(math.random(1, 4), nil):sub(1, 1)
  return ("%s-%s-4%s-%s%s-%s"):format(
    hex:sub(1, 8),
    hex:sub(9, 12),
    hex:sub(14, 16),
    variant,
    hex:sub(18, 20),
    hex:sub(21, 32)
  )
end

--- End a cancelled request on this side, the host never having confirmed it.
---@param req zeke.Request
---@param why string
function H.cancel_here(req, why)
  req.error = ("zeke: cancelled; %s. The text so far is kept."):format(why)
  req.cancelled_here = true -- a late confirmation from the host changes nothing
  scratch.show_error(req, req.error)
  requests.finish(req, "cancelled")
  scratch.update_winbar(req)
  util.notify(req.error, vim.log.levels.WARN)
end

return M
