--- The curl-Lua baseline: the shape a pure-Lua plugin has (one `curl -N` per
--- request through vim.system, each stdout chunk scheduled onto the main loop and
--- appended to a markdown scratch buffer). It is the floor such a plugin gets on
--- this machine: the request goes out first, then the answer buffer is readied:
--- one buffer, emptied for each answer, so `filetype=markdown` (its syntax and
--- ftplugin) is paid once, when the buffer is first made.
---
--- :BenchCurlExplain (range) — explain the selected lines, streamed.

local M = {}

local api, uv = vim.api, vim.uv
local count = 0
local on_done = function(_, _) end
local answer_buf = nil ---@type integer|nil

--- The window in this tab showing a baseline answer, if any.
---@return integer|nil
local function answer_window()
  for _, win in ipairs(api.nvim_tabpage_list_wins(0)) do
    if vim.b[api.nvim_win_get_buf(win)].zbench_answer then
      return win
    end
  end
end

---@param buf integer
---@param text string
local function append(buf, text)
  if text == "" or not api.nvim_buf_is_valid(buf) then
    return
  end
  local last_row = api.nvim_buf_line_count(buf) - 1
  local last_line = api.nvim_buf_get_lines(buf, last_row, last_row + 1, true)[1]
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_text(buf, last_row, #last_line, last_row, #last_line, vim.split(text, "\n", { plain = true }))
  vim.bo[buf].modifiable = false
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    pcall(api.nvim_win_set_cursor, win, { api.nvim_buf_line_count(buf), 0 })
  end
end

--- Turn SSE bytes into text: whole `data:` lines only, the rest kept for later.
---@param st table { pending = string }
---@param data string
---@return string
local function parse(st, data)
  local buf = st.pending .. data
  local out = {}
  local start = 1
  while true do
    local nl = buf:find("\n", start, true)
    if not nl then
      break
    end
    local line = buf:sub(start, nl - 1)
    start = nl + 1
    if line:sub(1, 6) == "data: " and line ~= "data: [DONE]" then
      local ok, obj = pcall(vim.json.decode, line:sub(7))
      local choice = ok and type(obj) == "table" and obj.choices and obj.choices[1]
      local content = choice and choice.delta and choice.delta.content
      if type(content) == "string" then
        table.insert(out, content)
      end
    end
  end
  st.pending = buf:sub(start)
  return table.concat(out)
end

---@param args table user-command args
function M.explain(args)
  count = count + 1
  local src = api.nvim_get_current_buf()
  local code = table.concat(api.nvim_buf_get_lines(src, args.line1 - 1, args.line2, false), "\n")
  local body = vim.json.encode({
    model = "bench-model",
    stream = true,
    messages = {
      { role = "system", content = "Explain the code the user shows you." },
      { role = "user", content = ("```%s\n%s\n```"):format(vim.bo[src].filetype, code) },
    },
  })
  local rid = ("curl-lua-%d-%d"):format(vim.fn.getpid(), count)
  local st = { pending = "" }
  local buf = answer_buf and api.nvim_buf_is_valid(answer_buf) and answer_buf or nil
  vim.system({
    "curl", "-sS", "-N", "--noproxy", "*",
    "-H", "content-type: application/json", "-H", "x-request-id: " .. rid,
    "--data-binary", "@-", vim.env.ZBENCH_BASE .. "/chat/completions",
  }, {
    stdin = body,
    stdout = function(_, data)
      if data then
        vim.schedule(function()
          append(buf, parse(st, data))
        end)
      end
    end,
  }, function(res)
    vim.schedule(function()
      on_done(res.code == 0 and "done" or "error", rid)
    end)
  end)

  if buf then
    vim.bo[buf].modifiable = true
    api.nvim_buf_set_lines(buf, 0, -1, false, {})
    vim.bo[buf].modifiable = false
  else
    buf = api.nvim_create_buf(false, true)
    answer_buf = buf
    api.nvim_buf_set_name(buf, "zbench://curl")
    vim.bo[buf].bufhidden = "hide"
    vim.bo[buf].filetype = "markdown"
    vim.bo[buf].modifiable = false
    vim.b[buf].zbench_answer = true
  end
  local win = answer_window()
  if not win then
    vim.cmd("botright vsplit")
    win = api.nvim_get_current_win()
    api.nvim_win_set_width(win, math.floor(vim.o.columns * 0.4))
    vim.cmd("wincmd p")
  end
  api.nvim_win_set_buf(win, buf)
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].number = false
end

---@param done fun(state: string, rid: string)
function M.setup(done)
  on_done = done
  api.nvim_create_user_command("BenchCurlExplain", M.explain, { range = true, nargs = "*" })
end

return M
