--- lualine component: `sections = { lualine_x = { "zeke" } }`.
--- Renders the cached badge; refreshes on `User ZekeStatus`, no RPC. lualine reads
--- a component's text as a statusline format: the badge comes escaped for that.
local ok, component = pcall(require, "lualine.component")
if not ok then
  return function()
    return require("zeke").statusline()
  end
end

local M = component:extend()

function M:init(options)
  M.super.init(self, options)
  vim.api.nvim_create_autocmd("User", {
    pattern = "ZekeStatus",
    group = vim.api.nvim_create_augroup("zeke.lualine", { clear = true }),
    callback = function()
      pcall(function()
        require("lualine").refresh({ place = { "statusline" } })
      end)
    end,
  })
end

function M:update_status()
  return require("zeke").statusline()
end

return M
