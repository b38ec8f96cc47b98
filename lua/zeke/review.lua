--- Reviewing changes before anything is written (contract §8).
---
--- A proposed change opens a review buffer (`zeke://review/<id>`) with one block
--- per hunk, and — for a rewrite of a selection — an inline preview in the source
--- buffer (old lines marked, new lines shown as virtual lines). Keys in the review
--- buffer: `a` accept hunk, `r` reject hunk, `A` / `<CR>` apply (every hunk not
--- rejected), `R` reject all, `]h` / `[h` next / previous hunk, `q` close.
--- `:ZekeApply` / `:ZekeReject` do the same from anywhere. Nothing is written
--- until the user applies, and the original is found again by content.
---
--- Tool-call writes (consent = "ask") use the same diff view, then ask: allow
--- once, allow for this session, reject (with a reason for the model), cancel all.

local config = require("zeke.config")
local host = require("zeke.host")

local M = {}

local api = vim.api
local ns = api.nvim_create_namespace("zeke.review")
local anchor_ns = api.nvim_create_namespace("zeke.anchor") -- set by zeke.commands

---@class zeke.Review
---@field id string
---@field req table
---@field proposal table
---@field decisions table<integer, "accept"|"reject">
---@field buf integer|nil          the review buffer
---@field hunk_rows table<integer, integer>  review-buffer row (0-based) of each hunk header
---@field source_buf integer|nil   the buffer the change is for, when already loaded

---@type table<string, zeke.Review>
M.pending = {}
---@type string|nil
M.current = nil

-- Private helpers --------------------------------------------------------------

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "zeke" })
end

local function short(path)
  if not path or path == vim.NIL then
    return "the buffer"
  end
  return vim.fn.fnamemodify(path, ":~:.")
end

--- Render hunks into lines + highlight spans; also returns each hunk's header row.
---@param title string[]
---@param hunks table[]
---@param decisions table<integer, string>|nil
local function render(title, hunks, decisions)
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

--- Show lines in a review buffer, in a split under the answer window.
---@param name string
---@param lines string[]
---@param marks table[]
---@return integer buf
local function show(name, lines, marks, filetype)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, name)
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
  end
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.b[buf].zeke_review = true
  api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  for _, m in ipairs(marks) do
    api.nvim_buf_set_extmark(buf, ns, m[1], 0, { line_hl_group = m[2] })
  end
  if filetype then
    vim.b[buf].zeke_filetype = filetype
  end
  if vim.fn.bufwinid(buf) == -1 then
    local here = api.nvim_get_current_win()
    local answer_win = require("zeke.scratch").find_window()
    if answer_win then
      api.nvim_set_current_win(answer_win)
      vim.cmd("belowright split")
    else
      vim.cmd("botright split")
    end
    api.nvim_win_set_buf(0, buf)
    vim.wo.number = false
    vim.wo.wrap = false
    if not config.get().ui.focus and api.nvim_win_is_valid(here) then
      api.nvim_set_current_win(here)
    end
  end
  return buf
end

local function close_buffer(buf)
  if buf and api.nvim_buf_is_valid(buf) then
    for _, win in ipairs(vim.fn.win_findbuf(buf)) do
      if #api.nvim_list_wins() > 1 then
        pcall(api.nvim_win_close, win, true)
      end
    end
    pcall(api.nvim_buf_delete, buf, { force = true })
  end
end

--- The buffer a change is for: the source buffer for a selection, the file's
--- buffer (loaded, created if missing) for a whole-file change.
---@param review zeke.Review
---@return integer|nil buf, string|nil err
local function target_buffer(review)
  local p = review.proposal
  if p.kind == "selection" then
    local buf = review.req.source and review.req.source.buf
    if not buf or not api.nvim_buf_is_valid(buf) then
      return nil, "zeke: the buffer this change was for is gone; nothing was changed"
    end
    return buf
  end
  local buf = vim.fn.bufadd(p.path)
  vim.fn.bufload(buf)
  vim.bo[buf].buflisted = true
  if p.create then
    -- :w does not make directories, and a new test file's (tests/) may not exist yet
    api.nvim_create_autocmd("BufWritePre", {
      buffer = buf,
      once = true,
      callback = function()
        vim.fn.mkdir(vim.fn.fnamemodify(p.path, ":h"), "p")
      end,
    })
  end
  return buf
end

--- Where the selection starts now (0-based row): its extmark moved with edits above it.
---@param review zeke.Review
---@return integer|nil
local function anchor_row(review)
  local src = review.req.source
  if not src or not src.mark or not api.nvim_buf_is_valid(src.buf) then
    return nil
  end
  local pos = api.nvim_buf_get_extmark_by_id(src.buf, anchor_ns, src.mark, {})
  return pos[1]
end

--- Inline preview in the source buffer: old lines marked, new ones as virtual lines.
---@param review zeke.Review
local function preview_inline(review)
  local p = review.proposal
  local src = review.req.source
  if p.kind ~= "selection" or not src or not api.nvim_buf_is_valid(src.buf) then
    return
  end
  local first = anchor_row(review) or (src.start_line - 1)
  local now = api.nvim_buf_get_lines(src.buf, first, first + #src.text, false)
  if not vim.deep_equal(now, src.text) then
    return -- it moved or changed; the review buffer still shows the diff
  end
  review.source_buf = src.buf
  api.nvim_buf_clear_namespace(src.buf, ns, 0, -1)
  for _, h in ipairs(p.hunks) do
    local state = review.decisions[h.index]
    if state ~= "reject" then
      local row = first + h.old_start
      for i = 0, #h.old_lines - 1 do
        api.nvim_buf_set_extmark(src.buf, ns, row + i, 0, { line_hl_group = "DiffDelete" })
      end
      if #h.new_lines > 0 then
        local virt = {}
        for _, l in ipairs(h.new_lines) do
          table.insert(virt, { { l ~= "" and l or " ", "DiffAdd" } })
        end
        local anchor = row + #h.old_lines - 1
        local above = false
        if anchor < first + h.old_start then -- a pure insertion: show above its row
          anchor = row
          above = true
        end
        local last_row = api.nvim_buf_line_count(src.buf) - 1
        if anchor > last_row then
          anchor, above = last_row, false
        end
        api.nvim_buf_set_extmark(src.buf, ns, math.max(anchor, 0), 0, { virt_lines = virt, virt_lines_above = above })
      end
    end
  end
end

local function clear_preview(review)
  if review.source_buf and api.nvim_buf_is_valid(review.source_buf) then
    api.nvim_buf_clear_namespace(review.source_buf, ns, 0, -1)
  end
  local src = review.req.source
  if src and src.mark and api.nvim_buf_is_valid(src.buf) then
    api.nvim_buf_del_extmark(src.buf, anchor_ns, src.mark)
  end
end

--- The change is settled (applied or rejected): drop its preview, view and state.
---@param review zeke.Review
local function forget(review)
  clear_preview(review)
  close_buffer(review.buf)
  M.pending[review.id] = nil
  if M.current == review.id then
    M.current = nil
  end
end

--- Show what is on disk now in a buffer without unsaved edits, keeping the view.
---@param buf integer
local function reload_buffer(buf)
  api.nvim_buf_call(buf, function()
    local view = vim.fn.winsaveview()
    vim.cmd("silent! edit")
    vim.fn.winrestview(view)
  end)
end

---@param review zeke.Review
local function redraw(review)
  local p = review.proposal
  local what = p.kind == "selection"
      and ("Proposed change to %s (lines %d–%d)"):format(short(p.path), review.req.source.start_line, review.req.source.end_line)
    or (p.create and "Proposed new file %s" or "Proposed change to %s"):format(short(p.path))
  local title = {
    ("%s — %d hunk%s"):format(what, #p.hunks, #p.hunks == 1 and "" or "s"),
    "a accept hunk · r reject hunk · A or <CR> apply · R reject all · ]h [h move · q close",
  }
  local lines, marks, rows = render(title, p.hunks, review.decisions)
  review.buf = show(("zeke://review/%s"):format(review.id), lines, marks)
  review.hunk_rows = rows
  preview_inline(review)
end

--- The hunk under the cursor in the review buffer.
---@param review zeke.Review
---@return integer|nil
local function hunk_at_cursor(review)
  local row = api.nvim_win_get_cursor(0)[1] - 1
  local best, best_row = nil, -1
  for index, r in pairs(review.hunk_rows or {}) do
    if r <= row and r > best_row then
      best, best_row = index, r
    end
  end
  if best == nil then
    local first
    for index, r in pairs(review.hunk_rows or {}) do
      if not first or r < review.hunk_rows[first] then
        first = index
      end
    end
    return first
  end
  return best
end

local function jump(review, dir)
  local row = api.nvim_win_get_cursor(0)[1] - 1
  local rows = vim.tbl_values(review.hunk_rows or {})
  table.sort(rows)
  local target
  if dir > 0 then
    for _, r in ipairs(rows) do
      if r > row then
        target = r
        break
      end
    end
  else
    for i = #rows, 1, -1 do
      if rows[i] < row then
        target = rows[i]
        break
      end
    end
  end
  if target then
    api.nvim_win_set_cursor(0, { target + 1, 0 })
  end
end

local function map_keys(review)
  local buf = review.buf
  if vim.b[buf].zeke_review_keys == review.id then
    return
  end
  vim.b[buf].zeke_review_keys = review.id
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, silent = true, desc = "zeke: " .. desc })
  end
  local function decide(state)
    return function()
      local index = hunk_at_cursor(review)
      if index ~= nil then
        M.decide(review.id, index, state)
        jump(review, 1)
      end
    end
  end
  map("a", decide("accept"), "accept this hunk")
  map("r", decide("reject"), "reject this hunk")
  map("A", function()
    M.apply(review.id)
  end, "apply every hunk not rejected")
  map("<CR>", function()
    M.apply(review.id)
  end, "apply every hunk not rejected")
  map("R", function()
    M.reject(review.id)
  end, "reject the whole change")
  map("]h", function()
    jump(review, 1)
  end, "next hunk")
  map("[h", function()
    jump(review, -1)
  end, "previous hunk")
  map("q", function()
    close_buffer(review.buf)
  end, "close (the change stays pending)")
end

-- Public -----------------------------------------------------------------------

--- A request finished with a proposed change: show it for review.
---@param req table
function M.offer(req)
  local p = req.proposal
  ---@type zeke.Review
  local review = { id = p.id, req = req, proposal = p, decisions = {} }
  M.pending[p.id] = review
  M.current = p.id
  redraw(review)
  map_keys(review)
  notify(
    ("zeke: change ready for review (%d hunk%s) — :ZekeApply to accept, :ZekeReject to drop"):format(
      #p.hunks,
      #p.hunks == 1 and "" or "s"
    )
  )
end

--- Mark one hunk accepted or rejected (review keys `a` / `r`).
---@param id string
---@param index integer 0-based hunk index
---@param state "accept"|"reject"
function M.decide(id, index, state)
  local review = M.pending[id]
  if not review then
    return
  end
  review.decisions[index] = state
  local cursor = review.buf and vim.fn.bufwinid(review.buf) ~= -1 and api.nvim_win_get_cursor(vim.fn.bufwinid(review.buf))
  redraw(review)
  if cursor then
    pcall(api.nvim_win_set_cursor, vim.fn.bufwinid(review.buf), cursor)
  end
end

--- Apply every hunk that is not rejected, as one undo step (or through Glyph).
---@param id string|nil  default: the latest pending change
---@param on_done fun(ok: boolean, msg: string)|nil
function M.apply(id, on_done)
  id = id or M.current
  local review = id and M.pending[id]
  if not review then
    notify("zeke: no change is pending")
    return
  end
  local accepted = {}
  for _, h in ipairs(review.proposal.hunks) do
    if review.decisions[h.index] ~= "reject" then
      table.insert(accepted, h.index)
    end
  end
  if #accepted == 0 then
    M.reject(id)
    return
  end
  local buf, err = target_buffer(review)
  if not buf then
    notify(err, vim.log.levels.ERROR)
    return
  end
  local tick = api.nvim_buf_get_changedtick(buf)
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  host.call("apply", {
    proposal = id,
    lines = lines,
    accepted = accepted,
    modified = vim.bo[buf].modified,
    fileformat = vim.bo[buf].fileformat,
    fileencoding = vim.bo[buf].fileencoding,
    hint = review.proposal.kind == "selection" and anchor_row(review) or vim.NIL,
  }, function(result, call_err)
    local function finish(ok, msg)
      notify(msg, ok and vim.log.levels.INFO or vim.log.levels.ERROR)
      if on_done then
        on_done(ok, msg)
      end
    end
    if call_err then
      finish(false, call_err) -- refused: nothing was written, the change stays pending
      return
    end
    if not api.nvim_buf_is_valid(buf) then
      finish(false, "zeke: the buffer went away; nothing was changed")
      return
    end
    local where = short(review.proposal.path)
    if result.written then
      -- written on disk through the tool server: show it (the buffer had no unsaved edits)
      reload_buffer(buf)
    else
      if api.nvim_buf_get_changedtick(buf) ~= tick then
        finish(false, "zeke: the buffer changed while applying; run :ZekeApply again")
        return
      end
      -- one nvim_buf_set_lines call = one undo step
      api.nvim_buf_set_lines(buf, result.start, result["end"], false, result.lines)
    end
    if review.proposal.kind == "file" and vim.fn.bufwinid(buf) == -1 then
      -- a test file the user has not opened: show what was added to it
      local here = api.nvim_get_current_win()
      vim.cmd("aboveleft sbuffer " .. buf)
      if not config.get().ui.focus and api.nvim_win_is_valid(here) then
        api.nvim_set_current_win(here)
      end
    end
    forget(review)
    local msg = ("zeke: applied %d of %d hunk%s to %s"):format(
      result.accepted,
      result.total,
      result.total == 1 and "" or "s",
      where
    )
    if result.written then
      msg = msg .. " (written through the tool server)"
    elseif vim.bo[buf].modified then
      msg = msg .. " (u undoes; not saved yet)"
    end
    finish(true, msg)
  end)
end

--- Drop a pending change; nothing is written.
---@param id string|nil
function M.reject(id)
  id = id or M.current
  local review = id and M.pending[id]
  if not review then
    notify("zeke: no change is pending")
    return
  end
  forget(review)
  host.call("discard", { proposal = id }, function() end)
  notify("zeke: change rejected; nothing was written")
end

function M.apply_all()
  M.apply(nil)
end

function M.reject_all()
  M.reject(nil)
end

-- Consent for tool-call writes -------------------------------------------------

local CHOICES = {
  { key = "allow", label = "Allow once" },
  { key = "allow_session", label = "Allow %s for this session" },
  { key = "reject", label = "Reject (tell the model why)" },
  { key = "cancel", label = "Cancel all tool calls" },
}

local function reply(token, decision, reason)
  host.notify("consent_reply", { token = token, decision = decision, reason = reason or vim.NIL })
end

--- The model asked to write through a tool: show what it would do and ask.
---@param data table {token, tool, args, path, hunks, create, mode}
function M.ask_consent(data)
  local path = data.path ~= vim.NIL and data.path or nil
  if path then
    local b = vim.fn.bufnr(path)
    if b ~= -1 and vim.bo[b].modified then
      -- whatever the policy: the write would land under the user's unsaved edits
      reply(data.token, "reject", "the file has unsaved edits in the editor; ask again after it is saved")
      notify(("zeke: refused %s on %s: it has unsaved edits"):format(data.tool, short(path)), vim.log.levels.WARN)
      return
    end
  end
  if data.mode == "allow" then
    reply(data.token, "policy")
    return
  end
  if data.mode == "session" then
    reply(data.token, "allow_session")
    return
  end
  if data.mode == "function" then
    local policy = config.get().consent
    local ok, allowed = pcall(policy, data.tool, data.args)
    if not ok then
      reply(data.token, "reject", "the consent policy failed: " .. tostring(allowed))
    else
      reply(data.token, allowed and "policy" or "reject", allowed and nil or "refused by the user's policy")
    end
    return
  end
  local title = {
    ("The model wants to run %s%s"):format(data.tool, path and (" on " .. short(path)) or ""),
  }
  if data.create then
    table.insert(title, "(a new file)")
  end
  if #data.hunks == 0 then
    for _, l in ipairs(vim.split(vim.inspect(data.args), "\n", { plain = true })) do
      table.insert(title, l)
    end
  end
  local lines, marks = render(title, data.hunks, nil)
  local buf = show("zeke://consent", lines, marks)
  local items = {}
  for _, c in ipairs(CHOICES) do
    table.insert(items, { key = c.key, label = c.label:format(data.tool) })
  end
  vim.ui.select(items, {
    prompt = ("zeke: allow %s%s?"):format(data.tool, path and (" on " .. short(path)) or ""),
    kind = "zeke.consent",
    format_item = function(item)
      return item.label
    end,
  }, function(choice)
    close_buffer(buf)
    if not choice then
      reply(data.token, "reject", "the user dismissed the prompt")
    elseif choice.key == "reject" then
      vim.ui.input({ prompt = "Reason for the model (optional): " }, function(reason)
        reply(data.token, "reject", reason)
      end)
    else
      reply(data.token, choice.key)
    end
  end)
end

--- After a tool wrote a file: show the new content in an unmodified buffer.
---@param path string
function M.reload(path)
  local b = vim.fn.bufnr(path)
  if b ~= -1 and api.nvim_buf_is_loaded(b) and not vim.bo[b].modified then
    reload_buffer(b)
  end
end

return M
