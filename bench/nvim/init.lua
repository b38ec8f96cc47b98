-- The Neovim the benchmark measures: what plain `nvim` does with its defaults
-- (syntax and filetype plugins on), plus zeke on the runtimepath, plus the
-- bench's own helpers (watchers, the curl-Lua baseline). The driver passes
-- `-u bench/nvim/init.lua` and isolated XDG dirs.
--
-- Environment (set by bench/session.py):
--   ZBENCH_NO_ZEKE=1        leave zeke off the runtimepath (a baseline Neovim)
--   ZBENCH_ZEKE=<json>      vim.g.zeke
--   ZBENCH_BASE=<url>       the bench server's API base, for the curl-Lua baseline
--   ZBENCH_AT_START="<ms> <command>"   run a command that long after VimEnter
--   ZBENCH_PY3=<path>       g:python3_host_prog (below)
local here = vim.fs.dirname(debug.getinfo(1, "S").source:sub(2))
local root = vim.fs.dirname(vim.fs.dirname(here))

vim.opt.rtp:prepend(here)
if vim.env.ZBENCH_NO_ZEKE ~= "1" then
  vim.opt.rtp:prepend(root)
end
-- The Python provider stays on (a default), but is pointed at a real interpreter, as
-- `:help provider-python` advises: opening a .py file makes ftplugin/python.vim probe
-- it, and a pyenv shim found on PATH makes that probe take seconds on a busy machine.
if vim.env.ZBENCH_PY3 and vim.env.ZBENCH_PY3 ~= "" then
  vim.g.python3_host_prog = vim.env.ZBENCH_PY3
end
if vim.env.ZBENCH_ZEKE and vim.env.ZBENCH_ZEKE ~= "" then
  vim.g.zeke = vim.json.decode(vim.env.ZBENCH_ZEKE)
end

-- bracket the FileType handlers so the bench can say what `filetype=markdown` costs
require("zbench").before_filetype()
vim.cmd("syntax on")
vim.cmd("filetype plugin indent on")
require("zbench").setup()
