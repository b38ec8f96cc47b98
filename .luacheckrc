-- luacheck (make lint): Neovim's LuaJIT with the `vim` global.
std = "luajit"
globals = { "vim" }
max_line_length = 120
-- methods keep `self` in their signature even when they do not use it (lualine's API)
self = false
