--- Reviewing changes before anything is written.
---
--- A proposed change gets a review buffer (`zeke: review inventory.py`) with one block per
--- hunk, and — for a rewrite of a selection — an inline preview in the source buffer
--- (old lines marked, new lines shown as virtual lines). All pending changes share ONE
--- review window per tab: a split below the answer window, or a floating window when
--- there is no room for a split, so a change is always shown however many are pending.
--- It shows the newest (unless the cursor is in it); its title says how many are
--- pending. Showing it never moves the cursor (unless `ui.focus`).
---
--- Keys in the review buffer: `a` accept hunk, `r` reject hunk, `A` / `<CR>` apply
--- (every hunk not rejected), `R` reject all, `]h` / `[h` next / previous hunk,
--- `]r` / `[r` next / previous pending change, `q` close the window (changes stay
--- pending; `:ZekeReview` shows it again). `:ZekeApply` / `:ZekeReject` act on the
--- change of the current window (see `M.target`). Nothing is written until the user
--- applies, and the original is found again by content.
---
--- Tool-call writes (consent = "ask") use the same window and diff view
--- (`zeke.diffview`); `zeke.consent` asks about them.

local config = require("zeke.config")
local diffview = require("zeke.diffview")
local host = require("zeke.host")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local notify = util.notify
local ns = api.nvim_create_namespace("zeke.review")
local anchor_ns = api.nvim_create_namespace("zeke.anchor") -- set by zeke.commands

---@class zeke.Review
---@field id string
---@field seq integer              order of arrival: the newest has the highest
---@field req table
---@field proposal table
---@field decisions table<integer, "accept"|"reject">
---@field buf integer|nil          the review buffer
---@field hunk_rows table<integer, integer>  review-buffer row (0-based) of each hunk header
---@field source_buf integer|nil   the buffer where this change's inline preview was drawn

---@type table<string, zeke.Review>
M.pending = {}
--- The newest pending change (nil when none is pending).
---@type string|nil
M.current = nil

H.seq = 0
--- Source buffer -> id of the change previewed inline in it (one preview per buffer).
---@type table<integer, string>
H.previewed = {}

-- Public -----------------------------------------------------------------------

--- The change `:ZekeApply`, `:ZekeReject` and `:ZekeReview` act on: the one shown in
--- the current window (its review buffer, or the answer buffer of its request), else
--- the newest one for the current buffer (asked from it, or changing its file), else
--- the newest pending one.
---@return zeke.Review|nil
function M.target()
  local buf = api.nvim_get_current_buf()
  for _, key in ipairs({ "zeke_review", "zeke_request" }) do
    local id = vim.b[buf][key]
    if type(id) == "string" and M.pending[id] then
      return M.pending[id]
    end
  end
  local list = H.ordered()
  for i = #list, 1, -1 do
    if H.belongs(list[i], buf) then
      return list[i]
    end
  end
  return list[#list]
end

--- A request finished with a proposed change: show it for review.
---@param req table
function M.offer(req)
  local p = req.proposal
  H.supersede(req)
  H.seq = H.seq + 1
  ---@type zeke.Review
  local review = { id = p.id, seq = H.seq, req = req, proposal = p, decisions = {}, hunk_rows = {} }
  M.pending[p.id] = review
  M.current = p.id
  local win = diffview.window()
  if win and (win == api.nvim_get_current_win() or vim.b[api.nvim_win_get_buf(win)].zeke_consent) then
    -- the user is reviewing there, or a tool asks for consent: what they look at
    -- stays; this change waits its turn (the title counts it, `]r` reaches it)
    H.redraw(review)
    local src = req.source
    if not (src and H.previewed[src.buf] and M.pending[H.previewed[src.buf]]) then
      H.preview_inline(review)
    end
  else
    H.display(review, config.get().ui.focus)
  end
  H.refresh()
  local n = vim.tbl_count(M.pending)
  notify(
    ("zeke: change to %s ready for review (%d hunk%s) — :ZekeApply to accept, :ZekeReject to drop%s"):format(
      H.label(review),
      #p.hunks,
      #p.hunks == 1 and "" or "s",
      n > 1 and (" (%d pending)"):format(n) or ""
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
  H.redraw(review)
  H.preview_inline(review)
end

--- Show the next (dir 1) or previous (dir -1) pending change, oldest to newest and
--- round again: in the current window when it is a review window (keys `]r` / `[r`),
--- else in the review window.
---@param dir integer
function M.cycle(dir)
  local list = H.ordered()
  if #list == 0 then
    notify("zeke: no change is pending")
    return
  end
  local here = vim.b.zeke_review
  local pos = #list
  for i, r in ipairs(list) do
    if r.id == here then
      pos = i
    end
  end
  local review = list[(pos - 1 + dir) % #list + 1]
  if here == nil then
    H.display(review, false)
    return
  end
  H.redraw(review)
  api.nvim_win_set_buf(0, review.buf)
  H.preview_inline(review)
end

--- `:ZekeReview`: open the review window on the change of the current window
--- (`M.target`) and move the cursor there.
function M.show()
  local review = M.target()
  if not review then
    notify("zeke: no change is pending")
    return
  end
  H.display(review, true)
end

--- Apply every hunk that is not rejected, as one undo step (or through Glyph).
--- Refused with a plain message, and nothing written, when the buffer cannot take it.
---@param id string|nil  default: `M.target()`
---@param on_done fun(ok: boolean, msg: string)|nil
function M.apply(id, on_done)
  local function finish(ok, msg)
    notify(msg, ok and vim.log.levels.INFO or vim.log.levels.ERROR)
    if on_done then
      on_done(ok, msg)
    end
  end
  local review, missing = H.resolve(id)
  if not review then
    notify(missing)
    if on_done then
      on_done(false, missing)
    end
    return
  end
  local accepted = {}
  for _, h in ipairs(review.proposal.hunks) do
    if review.decisions[h.index] ~= "reject" then
      table.insert(accepted, h.index)
    end
  end
  if #accepted == 0 then
    M.reject(review.id)
    return
  end
  local buf, reopened = H.target_buffer(review)
  if not buf then
    finish(false, reopened .. " (the change stays pending; :ZekeReject drops it)")
    return
  end
  ---@cast reopened boolean
  local name = diffview.short(review.proposal.path)
  local function close_again()
    if reopened and api.nvim_buf_is_valid(buf) then
      pcall(api.nvim_buf_delete, buf, { unload = true }) -- as it was: closed
    end
  end
  local why, how = H.refusal(buf)
  if why then
    close_again()
    finish(
      false,
      ("zeke: %s; nothing was changed, and the change stays pending%s"):format(
        why,
        how and (" (%s, then :ZekeApply)"):format(how) or ""
      )
    )
    return
  end
  local tick = api.nvim_buf_get_changedtick(buf)
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  host.call("apply", {
    proposal = review.id,
    lines = lines,
    accepted = accepted,
    modified = vim.bo[buf].modified,
    fileformat = vim.bo[buf].fileformat,
    fileencoding = vim.bo[buf].fileencoding,
    hint = review.proposal.kind == "selection" and H.anchor_row(review) or nil,
  }, function(result, call_err)
    if call_err then
      -- refused by the host: nothing was written, the change stays pending
      if reopened then
        close_again()
        if call_err:find("no longer in", 1, true) then
          call_err = (
            "zeke: %s had been closed, so zeke read it again from disk, and the code this change "
            .. "was made for is not in the file; nothing was changed (:ZekeReject drops the change)"
          ):format(name)
        else
          call_err = ("%s (%s had been closed; zeke read it again from disk)"):format(call_err, name)
        end
      end
      finish(false, call_err)
      return
    end
    local loaded = api.nvim_buf_is_valid(buf) and api.nvim_buf_is_loaded(buf)
    if result.written then
      -- written on disk through the tool server: show it (the buffer had no unsaved edits)
      if loaded then
        H.reload_buffer(buf)
      end
    else
      local problem = not loaded and ("%s was closed while zeke applied the change"):format(name)
        or api.nvim_buf_get_changedtick(buf) ~= tick and ("%s changed while zeke applied the change"):format(name)
        or H.refusal(buf)
      if not problem then
        -- one nvim_buf_set_lines call = one undo step
        local ok, err = pcall(api.nvim_buf_set_lines, buf, result.start, result["end"], false, result.lines)
        problem = not ok and ("%s could not be changed (%s)"):format(name, err) or nil
      end
      if problem then
        -- the host keeps an unwritten change until we settle it: it stays pending
        finish(
          false,
          ("zeke: %s; nothing was changed, and the change stays pending (:ZekeApply tries again)"):format(problem)
        )
        return
      end
      -- applied here: settled (the history and the outcome stats record it applied)
      host.call("discard", { proposal = review.id, outcome = "applied" }, function() end)
    end
    if reopened then
      vim.bo[buf].buflisted = true
    end
    if (review.proposal.kind == "file" or reopened) and vim.fn.bufwinid(buf) == -1 then
      -- a file the user has not open: show what changed in it (no room: the message says where)
      pcall(api.nvim_open_win, buf, config.get().ui.focus, { split = "above", win = 0 })
    end
    local where = name
    if review.proposal.kind == "selection" then
      local first, last = result.start + 1, result["end"]
      where = last > first and ("%s (lines %d–%d)"):format(name, first, last) or ("%s (line %d)"):format(name, first)
    end
    H.forget(review)
    local msg = ("zeke: applied %d of %d hunk%s to %s"):format(
      result.accepted,
      result.total,
      result.total == 1 and "" or "s",
      where
    ) .. H.drop_rivals(review)
    if result.written then
      msg = msg .. " (written through the tool server)"
    elseif vim.bo[buf].modified then
      msg = msg
        .. (
          reopened and " (it had been closed, so zeke opened it again; u undoes; not saved yet)"
          or " (u undoes; not saved yet)"
        )
    end
    finish(true, msg .. H.still_pending())
  end)
end

--- Drop a pending change; nothing is written.
---@param id string|nil  default: `M.target()`
function M.reject(id)
  local review, missing = H.resolve(id)
  if not review then
    notify(missing)
    return
  end
  local what = H.label(review)
  H.forget(review)
  host.call("discard", { proposal = review.id, outcome = "rejected" }, function() end)
  notify(("zeke: rejected the change to %s; nothing was written%s"):format(what, H.still_pending()))
end

--- `:ZekeApply`: the change of the current window (`M.target`).
function M.apply_all()
  M.apply(nil)
end

--- `:ZekeReject`: the change of the current window (`M.target`).
function M.reject_all()
  M.reject(nil)
end

--- After a tool wrote a file: show the new content in an unmodified buffer.
---@param path string
function M.reload(path)
  local b = vim.fn.bufnr(path)
  if b ~= -1 and api.nvim_buf_is_loaded(b) and not vim.bo[b].modified then
    H.reload_buffer(b)
  end
end

--- A review or consent view is done: the review window shows the newest pending
--- change instead (other windows close, as does the review window when none is
--- left), then the buffer goes.
---@param buf integer|nil
function M.release(buf)
  if not (buf and api.nvim_buf_is_valid(buf)) then
    return
  end
  local after = H.newest()
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if after and vim.w[win].zeke_review then
      H.redraw(after)
      api.nvim_win_set_buf(win, after.buf)
      H.preview_inline(after)
    elseif #api.nvim_list_wins() > 1 then
      pcall(api.nvim_win_close, win, true)
    end
  end
  pcall(api.nvim_buf_delete, buf, { force = true })
end

-- Private helpers --------------------------------------------------------------

--- One pending change per conversation: a follow-up's change replaces the one its
--- thread proposed before (they share the selection's anchor, which stays).
---@param req table
function H.supersede(req)
  for _, r in ipairs(H.ordered()) do
    if r.req.thread and r.req.thread == req.thread and r.id ~= req.proposal.id then
      local src = r.req.source
      if src then -- the anchor is the new change's too: forgetting this one keeps it
        r.req = { source = vim.tbl_extend("force", {}, src, { mark = false }) }
      end
      H.forget(r)
      host.call("discard", { proposal = r.id }, function() end)
    end
  end
end

--- Applying one answer's change drops the other answers' to the same request
--- (:ZekeRetry): what the message adds.
---@param applied zeke.Review
---@return string
function H.drop_rivals(applied)
  local family = require("zeke.thread").family
  local mine, n = family(applied.req), 0
  for _, r in ipairs(H.ordered()) do
    if r.req.thread and family(r.req) == mine then
      H.forget(r)
      host.call("discard", { proposal = r.id }, function() end)
      n = n + 1
    end
  end
  return n == 0 and "" or ("; dropped the other answer's change (%d)"):format(n)
end

--- Pending changes, oldest first.
---@return zeke.Review[]
function H.ordered()
  local list = vim.tbl_values(M.pending)
  table.sort(list, function(a, b)
    return a.seq < b.seq
  end)
  return list
end

---@return zeke.Review|nil
function H.newest()
  local list = H.ordered()
  return list[#list]
end

--- For messages after one change is settled: how many others still wait.
function H.still_pending()
  local n = vim.tbl_count(M.pending)
  return n == 0 and "" or ("; %d more pending (:ZekeReview)"):format(n)
end

--- Where the selection starts now (0-based row): its extmark moved with edits above it.
---@param review zeke.Review
---@return integer|nil
function H.anchor_row(review)
  local src = review.req.source
  if not src or not src.mark or not api.nvim_buf_is_valid(src.buf) or not api.nvim_buf_is_loaded(src.buf) then
    return nil
  end
  local pos = api.nvim_buf_get_extmark_by_id(src.buf, anchor_ns, src.mark, {})
  return pos[1]
end

--- Which change this is, for titles and messages: the file and, for a selection,
--- the lines where its original is now.
---@param review zeke.Review
---@return string
function H.label(review)
  local p = review.proposal
  local src = review.req.source
  if p.kind ~= "selection" or not src then
    return diffview.short(p.path)
  end
  local row = H.anchor_row(review)
  local first = row and row + 1 or src.start_line
  return ("%s (lines %d–%d)"):format(diffview.short(p.path), first, first + src.end_line - src.start_line)
end

--- Inline preview in the source buffer: old lines marked, new ones as virtual lines.
---@param review zeke.Review
function H.preview_inline(review)
  local p = review.proposal
  local src = review.req.source
  if p.kind ~= "selection" or not src or not api.nvim_buf_is_valid(src.buf) or not api.nvim_buf_is_loaded(src.buf) then
    return
  end
  local first = H.anchor_row(review) or (src.start_line - 1)
  local now = api.nvim_buf_get_lines(src.buf, first, first + #src.text, false)
  if not vim.deep_equal(now, src.text) then
    return -- it moved or changed; the review buffer still shows the diff
  end
  review.source_buf = src.buf
  H.previewed[src.buf] = review.id
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

function H.clear_preview(review)
  local b = review.source_buf
  if b and H.previewed[b] == review.id then
    H.previewed[b] = nil
    if api.nvim_buf_is_valid(b) then
      api.nvim_buf_clear_namespace(b, ns, 0, -1)
    end
  end
  local src = review.req.source
  if src and src.mark and api.nvim_buf_is_valid(src.buf) then
    pcall(api.nvim_buf_del_extmark, src.buf, anchor_ns, src.mark)
  end
end

--- Show what is on disk now in a buffer without unsaved edits, keeping the view.
---@param buf integer
function H.reload_buffer(buf)
  api.nvim_buf_call(buf, function()
    local view = vim.fn.winsaveview()
    vim.cmd("silent! edit")
    vim.fn.winrestview(view)
  end)
end

--- The hunk under the cursor in the review buffer.
---@param review zeke.Review
---@return integer|nil
function H.hunk_at_cursor(review)
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

function H.jump(review, dir)
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

---@param review zeke.Review
function H.map_keys(review)
  local buf = review.buf
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, silent = true, desc = "zeke: " .. desc })
  end
  local function decide(state)
    return function()
      local index = H.hunk_at_cursor(review)
      if index ~= nil then
        M.decide(review.id, index, state)
        H.jump(review, 1)
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
    H.jump(review, 1)
  end, "next hunk")
  map("[h", function()
    H.jump(review, -1)
  end, "previous hunk")
  map("]r", function()
    M.cycle(1)
  end, "next pending change")
  map("[r", function()
    M.cycle(-1)
  end, "previous pending change")
  map("q", function()
    if #api.nvim_list_wins() > 1 then
      pcall(api.nvim_win_close, 0, true)
    end
  end, "close the window (the changes stay pending)")
end

--- (Re)write a change's review buffer, made if missing; its title says which of
--- how many pending changes it is.
---@param review zeke.Review
function H.redraw(review)
  local p = review.proposal
  local list = H.ordered()
  local pos = #list
  for i, r in ipairs(list) do
    if r.id == review.id then
      pos = i
    end
  end
  local what = (p.kind == "file" and p.create) and ("Proposed new file %s"):format(diffview.short(p.path))
    or ("Proposed change to %s"):format(H.label(review))
  local head = ("%s — %d hunk%s"):format(what, #p.hunks, #p.hunks == 1 and "" or "s")
  local keys = "a accept hunk · r reject hunk · A or <CR> apply · R reject all · ]h [h move · q close"
  if #list > 1 then
    head = head .. (" · change %d of %d pending"):format(pos, #list)
    keys = keys .. " · ]r [r other changes"
  end
  local lines, marks, rows = diffview.render({ head, keys }, p.hunks, review.decisions)
  if not (review.buf and api.nvim_buf_is_valid(review.buf)) then
    review.buf = util.scratch_buffer(util.free_name("zeke: review " .. diffview.short(p.path)), "hide")
    vim.b[review.buf].zeke_review = review.id
    H.map_keys(review)
  end
  diffview.fill(review.buf, lines, marks)
  review.hunk_rows = rows
end

--- Show a change in the review window (made if missing), with its inline preview.
---@param review zeke.Review
---@param enter boolean  move the cursor into the review window
function H.display(review, enter)
  H.redraw(review)
  local win = diffview.place(review.buf)
  H.preview_inline(review)
  if win and enter then
    api.nvim_set_current_win(win)
  end
end

--- Titles say "change k of n": rewrite every pending change's buffer when n changes.
function H.refresh()
  for _, r in pairs(M.pending) do
    if r.buf and api.nvim_buf_is_valid(r.buf) then
      H.redraw(r)
    end
  end
end

--- The change is settled (applied or rejected): drop its preview, view and state.
---@param review zeke.Review
function H.forget(review)
  H.clear_preview(review)
  M.pending[review.id] = nil
  local after = H.newest()
  M.current = after and after.id or nil
  M.release(review.buf)
  review.buf = nil
  -- the newest other change for the same buffer gets the inline preview
  local b = review.source_buf
  if b and not H.previewed[b] then
    local list = H.ordered()
    for i = #list, 1, -1 do
      local src = list[i].req.source
      if src and src.buf == b then
        H.preview_inline(list[i])
        break
      end
    end
  end
  H.refresh()
end

--- Does this buffer belong to the change (asked from it, or the file it changes)?
---@param review zeke.Review
---@param buf integer
function H.belongs(review, buf)
  local src = review.req.source
  if src and src.buf == buf then
    return true
  end
  local path = review.proposal.path
  return path ~= nil and api.nvim_buf_get_name(buf) == path
end

---@param id string|nil
---@return zeke.Review|nil, string|nil why
function H.resolve(id)
  if id == nil then
    local review = M.target()
    return review, not review and "zeke: no change is pending" or nil
  end
  local review = M.pending[id]
  return review, not review and "zeke: that change is no longer pending" or nil
end

--- Why a change cannot go into this buffer now, and how to allow it (nil: it can).
---@param buf integer
---@return string|nil why, string|nil how
function H.refusal(buf)
  local name = diffview.short(api.nvim_buf_get_name(buf))
  local bt = vim.bo[buf].buftype
  if bt == "terminal" or bt == "prompt" or bt == "quickfix" or bt == "help" then
    return ("%s is a %s buffer now, not a file"):format(name, bt), nil
  end
  if not vim.bo[buf].modifiable then
    return ("%s is not modifiable ('modifiable' is off)"):format(name), ":setlocal modifiable"
  end
  if vim.bo[buf].readonly then
    return ("%s is read-only ('readonly' is set)"):format(name), ":setlocal noreadonly"
  end
end

--- The loaded buffer a change goes into, and whether zeke read it again from disk
--- (its buffer was closed: `:bdelete`, `:bwipeout`, or unloaded); the change is then
--- found by content in the file. Nil and why when there is no such buffer.
---@param review zeke.Review
---@return integer|nil buf, boolean|string reopened_or_why
function H.target_buffer(review)
  local p = review.proposal
  local path = p.path
  if p.kind == "selection" then
    local src = review.req.source
    local buf = src and src.buf
    if buf and api.nvim_buf_is_valid(buf) and api.nvim_buf_is_loaded(buf) then
      return buf, false
    end
    if not path then
      return nil,
        "zeke: the buffer this change was for was closed, and it has no file to read again; nothing was changed"
    end
    if vim.fn.filereadable(path) ~= 1 then
      return nil,
        ("zeke: %s was closed, and the file is no longer on disk; nothing was changed"):format(diffview.short(path))
    end
    if not (buf and api.nvim_buf_is_valid(buf)) then
      buf = vim.fn.bufadd(path)
    end
    local reopened = not api.nvim_buf_is_loaded(buf)
    if reopened then
      local ok, err = pcall(vim.fn.bufload, buf)
      if not ok or not api.nvim_buf_is_loaded(buf) then
        local why = "zeke: %s was closed and could not be read again (%s); nothing was changed"
        return nil, why:format(diffview.short(path), tostring(err))
      end
    end
    src.buf = buf
    src.mark = nil -- extmarks do not survive unloading; the content locates it
    return buf, reopened
  end
  local buf = vim.fn.bufadd(path)
  local ok, err = pcall(vim.fn.bufload, buf)
  if not ok then
    return nil, ("zeke: cannot read %s (%s); nothing was changed"):format(diffview.short(path), err)
  end
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
  return buf, false
end

return M
