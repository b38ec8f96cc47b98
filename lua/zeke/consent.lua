--- Consent for a tool's write: the model asked to change a file through an MCP tool.
--- By `tools.consent`: allowed by policy, allowed for the session, decided by the
--- user's function, or ("ask") shown as a diff in the review window with a choice —
--- allow once, allow for this session, reject with a reason for the model, cancel all.
--- A file with unsaved edits is never written, whatever the policy.

local config = require("zeke.config")
local diffview = require("zeke.diffview")
local host = require("zeke.host")
local util = require("zeke.util")

local M = {}
local H = {}

local api = vim.api
local notify = util.notify

H.CHOICES = {
  { key = "allow", label = "Allow once" },
  { key = "allow_session", label = "Allow %s for this session" },
  { key = "reject", label = "Reject (tell the model why)" },
  { key = "cancel", label = "Cancel all tool calls" },
}

-- Public -----------------------------------------------------------------------

--- The model asked to write through a tool: show what it would do and ask.
---@param data table {token, tool, args, path, hunks, create, mode}
function M.ask(data)
  local path = data.path
  if path then
    local b = vim.fn.bufnr(path)
    if b ~= -1 and vim.bo[b].modified then
      -- whatever the policy: the write would land under the user's unsaved edits
      H.reply(data.token, "reject", "the file has unsaved edits in the editor; ask again after it is saved")
      notify(
        ("zeke: refused %s on %s: it has unsaved edits"):format(data.tool, diffview.short(path)),
        vim.log.levels.WARN
      )
      return
    end
  end
  if data.mode == "allow" then
    H.reply(data.token, "policy")
    return
  end
  if data.mode == "session" then
    H.reply(data.token, "allow_session")
    return
  end
  if data.mode == "function" then
    local policy = config.get().consent
    local ok, allowed = pcall(policy, data.tool, data.args)
    if not ok then
      H.reply(data.token, "reject", "the consent policy failed: " .. tostring(allowed))
    else
      H.reply(data.token, allowed and "policy" or "reject", allowed and nil or "refused by the user's policy")
    end
    return
  end
  local title = {
    ("The model wants to run %s%s"):format(data.tool, path and (" on " .. diffview.short(path)) or ""),
  }
  if data.create then
    table.insert(title, "(a new file)")
  end
  if #data.hunks == 0 then
    for _, l in ipairs(vim.split(vim.inspect(data.args), "\n", { plain = true })) do
      table.insert(title, l)
    end
  end
  local lines, marks = diffview.render(title, data.hunks, nil)
  local buf = util.scratch_buffer("zeke: consent", "wipe")
  vim.b[buf].zeke_review = "consent"
  vim.b[buf].zeke_consent = true
  diffview.fill(buf, lines, marks)
  local win = diffview.place(buf)
  if win and config.get().ui.focus then
    api.nvim_set_current_win(win)
  end
  local items = {}
  for _, c in ipairs(H.CHOICES) do
    table.insert(items, { key = c.key, label = c.label:format(data.tool) })
  end
  vim.ui.select(items, {
    prompt = ("zeke: allow %s%s?"):format(data.tool, path and (" on " .. diffview.short(path)) or ""),
    kind = "zeke.consent",
    format_item = function(item)
      return item.label
    end,
  }, function(choice)
    require("zeke.review").release(buf)
    if not choice then
      H.reply(data.token, "reject", "the user dismissed the prompt")
    elseif choice.key == "reject" then
      vim.ui.input({ prompt = "Reason for the model (optional): " }, function(reason)
        H.reply(data.token, "reject", reason)
      end)
    else
      H.reply(data.token, choice.key)
    end
  end)
end

-- Private helpers --------------------------------------------------------------

---@param token string
---@param decision string
---@param reason string|nil
function H.reply(token, decision, reason)
  host.notify("consent_reply", { token = token, decision = decision, reason = reason })
end

return M
