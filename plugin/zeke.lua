-- zeke.nvim: cheap definitions only. Nothing is required and no Python starts
-- until a command runs.
if vim.g.loaded_zeke then
  return
end
vim.g.loaded_zeke = true

-- The command line just left, until the loop turns again: a command runs before that,
-- and its range's text (`'<,'>` after a visual selection, or `10,20`) tells the two
-- apart where line numbers cannot. Nil for a command not typed (vim.cmd, <Cmd>).
local cmdline = nil
vim.api.nvim_create_autocmd("CmdlineLeave", {
  group = vim.api.nvim_create_augroup("zeke.cmdline", { clear = true }),
  pattern = ":",
  callback = function()
    cmdline = not vim.v.event.abort and vim.fn.getcmdline() or nil
    vim.schedule(function()
      cmdline = nil
    end)
  end,
})

local function command(name, impl, opts)
  opts.desc = opts.desc or ("zeke: " .. name)
  vim.api.nvim_create_user_command(name, function(args)
    args.cmdline = cmdline
    cmdline = nil
    require("zeke")._command(impl, args)
  end, opts)
end

command(
  "ZekeRefactor",
  "ZekeRefactor",
  { range = true, nargs = "*", desc = "zeke: rewrite the selection (intent code)" }
)
command(
  "ZekeTest",
  "ZekeTest",
  { range = true, nargs = "*", desc = "zeke: write tests for the selection (intent tests)" }
)
command(
  "ZekeExplain",
  "ZekeExplain",
  { range = true, nargs = "*", desc = "zeke: explain the selection (intent reason)" }
)
command("ZekeFollowup", "ZekeFollowup", {
  nargs = "*",
  bang = true,
  desc = "zeke: follow up on the answer (! {alias}: on another alias)",
  complete = function(arglead, line)
    if line:match("^%S*!%s+%S*$") then -- the bang's alias
      return require("zeke.commands").complete_alias(arglead)
    end
    return {}
  end,
})
command("ZekeRetry", "ZekeRetry", {
  nargs = "?",
  desc = "zeke: send the answer's request again to another alias",
  complete = function(arglead)
    return require("zeke.commands").complete_alias(arglead)
  end,
})
command("ZekeCancel", "ZekeCancel", { nargs = 0, desc = "zeke: stop the running request" })
command("ZekeApply", "ZekeApply", { nargs = 0, desc = "zeke: accept the pending change" })
command("ZekeReject", "ZekeReject", { nargs = 0, desc = "zeke: drop the pending change" })
command("ZekeReview", "ZekeReview", { nargs = 0, desc = "zeke: show the pending changes in the review window" })
command("ZekeDoctor", "ZekeDoctor", { nargs = 0, desc = "zeke: health report" })
command("ZekeStats", "ZekeStats", { nargs = 0, bang = true, desc = "zeke: stats per alias/model (! = all projects)" })
command("ZekeAudit", "ZekeAudit", { nargs = 0, bang = true, desc = "zeke: recent tool calls and consent decisions" })
command("ZekeHistory", "ZekeHistory", {
  nargs = 0,
  bang = true,
  desc = "zeke: earlier requests and answers, to reopen (! = all projects)",
})
command("ZekeModel", "ZekeModel", {
  nargs = "?",
  desc = "zeke: pick the alias for this project",
  complete = function(arglead)
    return require("zeke.commands").complete_alias(arglead)
  end,
})
command("ZekeWhy", "ZekeWhy", { nargs = "?", desc = "zeke: why this model: the last request's routing receipt" })
command("ZekePrefer", "ZekePrefer", {
  nargs = 1,
  desc = "zeke: this project prefers local or cloud models, or lets the router decide (auto)",
  complete = function(arglead)
    return require("zeke.why").complete_prefer(arglead)
  end,
})
command("ZekeBudget", "ZekeBudget", { nargs = 1, desc = "zeke: this project's cloud cost cap in cents, or off" })

-- <Plug> maps: <Cmd> keeps visual mode alive so the live selection is read.
local plug = {
  { "(zeke-refactor)", "ZekeRefactor" },
  { "(zeke-test)", "ZekeTest" },
  { "(zeke-explain)", "ZekeExplain" },
}
for _, p in ipairs(plug) do
  vim.keymap.set({ "n", "x" }, "<Plug>" .. p[1], "<Cmd>" .. p[2] .. "<CR>", { desc = "zeke: " .. p[2] })
end
vim.keymap.set("n", "<Plug>(zeke-cancel)", "<Cmd>ZekeCancel<CR>", { desc = "zeke: cancel" })
vim.keymap.set("n", "<Plug>(zeke-model)", "<Cmd>ZekeModel<CR>", { desc = "zeke: pick a model" })
vim.keymap.set("n", "<Plug>(zeke-apply)", "<Cmd>ZekeApply<CR>", { desc = "zeke: apply the change" })
vim.keymap.set("n", "<Plug>(zeke-reject)", "<Cmd>ZekeReject<CR>", { desc = "zeke: reject the change" })
vim.keymap.set("n", "<Plug>(zeke-why)", "<Cmd>ZekeWhy<CR>", { desc = "zeke: the routing receipt" })

-- Start the host ahead of the first command (config `prestart`): on the first Visual
-- mode, or once Neovim has been idle for a second after starting.
local prestart = vim.api.nvim_create_augroup("zeke.prestart", { clear = true })
vim.api.nvim_create_autocmd("ModeChanged", {
  group = prestart,
  pattern = "*:[vV\x16]*",
  once = true,
  callback = function()
    require("zeke.host").prestart("visual")
  end,
})
local function when_idle()
  vim.defer_fn(function()
    require("zeke.host").prestart("idle")
  end, 1000)
end
if vim.v.vim_did_enter == 1 then -- loaded late (a plugin manager's lazy loading)
  when_idle()
else
  vim.api.nvim_create_autocmd("VimEnter", { group = prestart, once = true, callback = when_idle })
end
