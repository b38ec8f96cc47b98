--- The budget guard's question (engine/guard.py): the request's forecast cost is over
--- the project's cap (:ZekeBudget), so the host asks before sending — send anyway, send
--- to a local alias, or cancel. The host waits for the answer; nothing here blocks.

local host = require("zeke.host")

local M = {}

--- Ask, and tell the host what the user chose (dismissed: cancel).
---@param data table {token, id, prompt, choices = {{key, label, alias?}}}
function M.ask(data)
  local choices = type(data.choices) == "table" and data.choices or {}
  vim.ui.select(choices, {
    prompt = data.prompt,
    kind = "zeke.guard",
    format_item = function(item)
      return item.label
    end,
  }, function(choice)
    host.notify("guard_reply", {
      token = data.token,
      choice = choice and choice.key or "cancel",
      alias = choice and choice.alias or nil,
    })
  end)
end

return M
