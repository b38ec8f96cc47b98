--- The bench's side inside Neovim: stamps (vim.uv.hrtime(), the clock the driver
--- and the bench server read too), the command runner, request-done tracking for
--- zeke and the curl-Lua baseline, chained requests, and a profile of zeke's
--- command. Nothing here changes what zeke does.

local M = {}

local api, uv = vim.api, vim.uv

---@class zbench.Stamps
---@field t0 integer|nil      just before the command ran
---@field cmd_end integer|nil just after it returned
---@field first integer|nil   the answer buffer first got text
---@field last integer|nil    … last got text
---@field state string|nil    how the request ended (nil while running)
---@field rid string|nil      the request id the server saw
---@field parts table<string, number> ms spent in parts of the command
M.s = { parts = {} }

--- Time inside FileType handlers of answer buffers, per buffer (ns).
local ft_start = {}
local attached = {}
local chain = nil

--- A zeke answer buffer (it carries its request's id) or the curl-Lua baseline's.
local function is_answer(buf)
  return vim.b[buf].zeke_request ~= nil or api.nvim_buf_get_name(buf):match("^zbench://") ~= nil
end

local function watch(buf)
  if attached[buf] or not api.nvim_buf_is_valid(buf) or not is_answer(buf) then
    return
  end
  attached[buf] = true
  api.nvim_buf_attach(buf, false, {
    on_lines = function(_, b)
      local now = uv.hrtime()
      local s = M.s
      if not s.cmd_end then
        return -- the command itself emptying or making the buffer: no answer text yet
      end
      if not s.first then
        s.first = now
      end
      s.last = now
      if M.trace then
        -- a slow stream is one line: its text so far, with when it got there
        s.trace = s.trace or {}
        table.insert(s.trace, { now, api.nvim_buf_get_lines(b, -2, -1, false)[1] or "" })
      end
    end,
    on_detach = function(_, b)
      attached[b] = nil
    end,
  })
end

--- A FileType handler defined before `syntax on` / `filetype plugin on`, so it
--- runs first; its pair in setup() runs last.
function M.before_filetype()
  api.nvim_create_autocmd("FileType", {
    group = api.nvim_create_augroup("zbench_ft0", { clear = true }),
    callback = function(ev)
      ft_start[ev.buf] = uv.hrtime()
    end,
  })
end

local function add_part(name, ms)
  M.s.parts[name] = (M.s.parts[name] or 0) + ms
end

local function done(state, rid)
  local s = M.s
  if s.t0 and not s.state then
    s.state, s.rid, s.done_at = state, rid, uv.hrtime()
  end
  if chain then
    chain.done = chain.done + 1
    if state ~= "done" then
      chain.bad = chain.bad + 1
    end
    if chain.done < chain.target then
      vim.schedule(function()
        M.run(chain.cmd)
      end)
    end
  end
end

function M.setup()
  local grp = api.nvim_create_augroup("zbench", { clear = true })
  api.nvim_create_autocmd({ "BufFilePost", "BufWinEnter", "FileType" }, {
    group = grp,
    callback = function(ev)
      watch(ev.buf)
    end,
  })
  api.nvim_create_autocmd("FileType", {
    group = grp,
    callback = function(ev)
      local t = ft_start[ev.buf]
      ft_start[ev.buf] = nil
      -- zeke sets it once the first text is drawn: counted apart from the command's time
      if t and M.s.t0 and is_answer(ev.buf) then
        add_part("filetype", (uv.hrtime() - t) / 1e6)
      end
    end,
  })
  api.nvim_create_autocmd("User", {
    group = grp,
    pattern = "ZekeRequestDone",
    callback = function(ev)
      local d = ev.data or {}
      done(d.state or "?", d.id)
    end,
  })
  require("zbench.curl").setup(done)
  local at = vim.env.ZBENCH_AT_START
  if at and at ~= "" then
    -- "<ms> <command>", or "<ms> visual:<ms2> <command>": Visual mode over lines 10-30
    -- at <ms> (typed, as a user selects), the command <ms2> later, still in Visual mode
    local ms, rest = at:match("^(%d+) (.+)$")
    local select_ms, cmd = rest:match("^visual:(%d+) (.+)$")
    cmd = cmd or rest
    local function go()
      if not select_ms then
        M.run(cmd)
        return
      end
      api.nvim_win_set_cursor(0, { 10, 0 })
      api.nvim_feedkeys("V20j", "n", false)
      vim.defer_fn(function()
        M.run(cmd)
      end, tonumber(select_ms))
    end
    api.nvim_create_autocmd("VimEnter", {
      group = grp,
      once = true,
      callback = function()
        M.vimenter = uv.hrtime()
        if tonumber(ms) == 0 then
          vim.schedule(go)
        else
          vim.defer_fn(go, tonumber(ms))
        end
      end,
    })
  end
end

--- Run one command with stamps around it (the command's synchronous part).
---@param cmd string
function M.run(cmd)
  M.s = { parts = {}, t0 = uv.hrtime() }
  vim.cmd(cmd)
  M.s.cmd_end = uv.hrtime()
end

--- Time zeke's parts from now on (requires its modules: call it once the host is up).
function M.profile()
  if M.profiled then
    return
  end
  M.profiled = true
  local function wrap(mod, fname, part)
    local m = require(mod)
    local orig = m[fname]
    m[fname] = function(...)
      local t = uv.hrtime()
      local r = { orig(...) }
      if M.s.t0 and not M.s.cmd_end then
        add_part(part, (uv.hrtime() - t) / 1e6)
      end
      return unpack(r)
    end
  end
  wrap("zeke.scratch", "open", "answer buffer")
  wrap("zeke.host", "notify", "send to host")
end

--- From now on, answer buffers get no highlighting, regex syntax or treesitter (a
--- diagnostic run: how much of the editor's answer time is the answer's highlighting).
function M.syntax_off()
  api.nvim_create_autocmd("FileType", {
    group = api.nvim_create_augroup("zbench_syntax_off", { clear = true }),
    callback = function(ev)
      if is_answer(ev.buf) then
        vim.bo[ev.buf].syntax = "OFF"
      end
    end,
  })
  local start = vim.treesitter.start
  vim.treesitter.start = function(buf, ...)
    if buf and is_answer(buf) then
      return
    end
    return start(buf, ...)
  end
end

--- How many answer buffers this Neovim holds.
---@return integer
function M.answer_buffers()
  local n = 0
  for _, b in ipairs(api.nvim_list_bufs()) do
    if is_answer(b) then
      n = n + 1
    end
  end
  return n
end

--- n requests back to back, driven from here (no RPC round trip in between).
---@param cmd string
---@param n integer
function M.chain(cmd, n)
  chain = { cmd = cmd, target = n, done = 0, bad = 0 }
  M.run(cmd)
end

---@return table|nil
function M.chain_state()
  return chain and { done = chain.done, bad = chain.bad } or nil
end

--- The text of the buffer in the answer window the last request wrote to.
---@return string|nil
function M.answer_text()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    local b = api.nvim_win_get_buf(win)
    if is_answer(b) then
      return table.concat(api.nvim_buf_get_lines(b, 0, -1, false), "\n")
    end
  end
end

return M
