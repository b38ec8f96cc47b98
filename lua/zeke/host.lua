--- The Python host: one process per Neovim, started lazily on the first command
--- that needs it, spoken to with notifications only (a blocking rpcrequest from a
--- command could freeze the editor while the host is busy).

local config = require("zeke.config")
local util = require("zeke.util")

local M = {}
local H = {}

---@type integer|nil job/channel id of the running host
M.chan = nil
--- Why the previous host went away, reported once by the next command.
---@type string|nil
M.exit_reason = nil
--- The host channel that did not confirm a cancel in time. Any batch from the
--- host clears it (it was only slow); else the next command replaces the host.
---@type integer|nil
M.suspect = nil

H.callbacks = {} ---@type table<integer, fun(result: any, err: string|nil)>
H.next_call_id = 0
H.session_id = nil ---@type string|nil

-- Public -----------------------------------------------------------------------

--- The plugin's root directory (where plugin/, lua/ and rplugin/ live).
---@return string
function M.root()
  local src = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(src, ":p:h:h:h")
end

--- The interpreter the host runs on: config `python`, else the install step's venv.
---@return string
function M.python()
  local cfg = config.get()
  if cfg.python then
    return vim.fn.expand(cfg.python)
  end
  local root = M.root()
  for _, candidate in ipairs({ root .. "/.venv/bin/python", root .. "/.venv/Scripts/python.exe" }) do
    if vim.fn.executable(candidate) == 1 then
      return candidate
    end
  end
  return root .. "/.venv/bin/python"
end

--- One id per Neovim session, sent as X-Zeke-Session (OMEN's stickiness).
---@return string
function M.session_id()
  if not H.session_id then
    local seed = ("%d-%d-%s"):format(vim.fn.getpid(), vim.uv.hrtime(), tostring(math.random()))
    H.session_id = vim.fn.sha256(seed):sub(1, 16)
  end
  return H.session_id
end

function M.log_file()
  return vim.fn.stdpath("log") .. "/zeke.log"
end

--- Start the host if it is not running (or replace one that stopped answering).
---@return integer|nil chan, string|nil err
function M.ensure()
  M.recover()
  if M.chan then
    return M.chan
  end
  local reason = M.take_exit_reason()
  if reason then
    util.notify("zeke: " .. reason .. "; starting a new one", vim.log.levels.WARN)
  end
  local python = M.python()
  if vim.fn.executable(python) ~= 1 then
    return nil,
      ("zeke: no Python host interpreter at %s. Run `make install` in %s (or set the config key 'python')."):format(
        python,
        M.root()
      )
  end
  local stderr_tail = {} -- this host's own: an old one may still be writing to its pipe
  local ok, chan = pcall(vim.fn.jobstart, { python, "-m", "zeke", "host" }, {
    rpc = true,
    -- the API key stays in the environment the host inherits: never in argv
    env = {
      PYTHONPATH = util.pythonpath(M.root()),
      ZEKE_LOG_FILE = M.log_file(),
      ZEKE_LOG_LEVEL = config.get().log_level,
      ZEKE_SESSION = M.session_id(),
    },
    on_stderr = function(_, data)
      for _, line in ipairs(data or {}) do
        if line ~= "" then
          table.insert(stderr_tail, line)
          if #stderr_tail > 20 then
            table.remove(stderr_tail, 1)
          end
        end
      end
    end,
    on_exit = function(job, code)
      vim.schedule(function()
        M._on_exit(job, code, stderr_tail)
      end)
    end,
  })
  if not ok or type(chan) ~= "number" or chan <= 0 then
    return nil, ("zeke: could not start the Python host (%s): %s"):format(python, tostring(chan))
  end
  M.chan = chan
  -- Quitting: stop the host first, so that its exit path ends the tool servers it
  -- started (one stuck in a call would otherwise outlive Neovim).
  vim.api.nvim_create_autocmd("VimLeavePre", {
    group = vim.api.nvim_create_augroup("zeke.host", { clear = true }),
    once = true,
    callback = function()
      M.stop()
    end,
  })
  H.send(chan, "setup", config.for_host())
  return chan
end

--- Start the host ahead of the first command, when the `prestart` config asks for
--- it on this `trigger` (|zeke-config-prestart|). Quietly: a host that cannot start
--- is reported by the command that needs it.
---@param trigger "visual"|"idle"
function M.prestart(trigger)
  if M.chan or config.get().prestart ~= trigger then
    return
  end
  M.ensure()
end

--- Send a notification to the host (starting it if needed).
---@param method string
---@param payload any
---@return boolean ok, string|nil err
function M.notify(method, payload)
  local chan, err = M.ensure()
  if not chan then
    return false, err
  end
  return H.send(chan, method, payload)
end

--- Ask the host something (zeke/protocol.py CALLS); `cb(result, err)` runs on the main loop later.
---@param method string
---@param args any
---@param cb fun(result: any, err: string|nil)
function M.call(method, args, cb)
  H.next_call_id = H.next_call_id + 1
  local id = H.next_call_id
  H.callbacks[id] = cb
  local ok, err = M.notify("call", { id = id, method = method, args = args or vim.empty_dict() })
  if not ok then
    H.callbacks[id] = nil
    cb(nil, err)
  end
end

--- Push the current config to a running host (after setup()).
function M.push_config()
  if M.chan then
    H.send(M.chan, "setup", config.for_host())
  end
end

function M.stop()
  M.suspect = nil
  if M.chan then
    local chan = M.chan
    M.chan = nil
    pcall(vim.fn.jobstop, chan)
  end
end

--- The host did not confirm something it always confirms at once (a cancel).
---@param chan integer|nil  the host that was asked
function M.not_answering(chan)
  if chan and chan == M.chan then
    M.suspect = chan
  end
end

--- A host that stopped answering is given up now, before anything new waits on it
--- (the next start says so once).
function M.recover()
  if M.chan and M.suspect == M.chan then
    M.abandon("the Python host stopped answering")
  end
end

--- A batch arrived from the host: it is answering.
function M.alive()
  M.suspect = nil
end

--- Give up on the running host: stop it (Neovim kills it if it does not stop),
--- end what waited on it, and say why at the next start.
---@param reason string
function M.abandon(reason)
  local chan = M.chan
  M.chan, M.suspect = nil, nil
  if chan then
    pcall(vim.fn.jobstop, chan)
  end
  M.exit_reason = reason
  H.fail_pending(reason)
  require("zeke.bridge").host_died(reason)
end

-- Called by the host (through zeke.bridge) -------------------------------------

function M._resolve(id, result, err)
  local cb = H.callbacks[id]
  H.callbacks[id] = nil
  if cb then
    cb(result, err) -- nil for the host's None already (bridge.denull)
  end
end

-- Private ----------------------------------------------------------------------

---@param job integer
---@param code integer
---@param stderr_tail string[]
function M._on_exit(job, code, stderr_tail)
  if M.chan ~= job then
    return -- an old host we already replaced or stopped
  end
  M.chan, M.suspect = nil, nil
  local tail = table.concat(stderr_tail or {}, "\n")
  local reason = ("the Python host exited (code %d)"):format(code)
  if tail ~= "" then
    reason = reason .. ": " .. tail:sub(-400)
  end
  M.exit_reason = reason
  H.fail_pending(reason)
  require("zeke.bridge").host_died(reason)
end

--- If the last host died, say so once (the next command starts a new one).
---@return string|nil
function M.take_exit_reason()
  local r = M.exit_reason
  M.exit_reason = nil
  return r
end

-- Private helpers --------------------------------------------------------------

--- The one way a message goes to the host: a notification (zeke/protocol.py NOTIFICATIONS).
---@param chan integer
---@param method string
---@param payload any
---@return boolean ok, string|nil err
function H.send(chan, method, payload)
  local ok, err = pcall(vim.rpcnotify, chan, "zeke", method, payload)
  if not ok then
    return false, "zeke: lost the Python host: " .. tostring(err)
  end
  return true
end

--- Every call still waiting for the host gets an answer: the reason it never will.
---@param reason string
function H.fail_pending(reason)
  for id, cb in pairs(H.callbacks) do
    H.callbacks[id] = nil
    cb(nil, "zeke: " .. reason)
  end
end

return M
