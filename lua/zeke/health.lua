--- `:checkhealth zeke` (and `:ZekeDoctor`): Neovim and the config are checked
--- here; everything else (the host's Python, OMEN, Ollama, Glyph, the database,
--- the key) by `python -m zeke doctor --json`, run on the host's own interpreter
--- with the same config, so the shell and the editor tell the same story.

local util = require("zeke.util")

local M = {}
local H = {}

H.DOCTOR_TIMEOUT_MS = 15000 -- the doctor bounds itself (a few seconds); this is a backstop
--- How long the report waits for the host to say which alias the project uses
--- (asked before the doctor runs, so it is mostly waited for already).
H.ALIAS_TIMEOUT_MS = 5000

local report = vim.health

--- The Neovim releases the test suite runs on; older ones get a warning.
H.TESTED = { min_minor = 11, text = "0.11 and 0.12" }

--- Which section of the report a doctor check belongs to.
H.SECTIONS = {
  { title = "zeke: Python host", names = { ["Python"] = true, ["Python packages"] = true } },
  { title = "zeke: OMEN (router)", names = { ["OMEN"] = true, ["OMEN models"] = true } },
  { title = "zeke: Ollama (degraded mode)", names = { ["Ollama"] = true, ["Ollama models"] = true } },
  { title = "zeke: Glyph (tools)", names = { ["Glyph"] = true } },
  {
    title = "zeke: local cache and key",
    names = { ["Database"] = true, ["API key"] = true, ["Configuration"] = true },
  },
}

-- Public -----------------------------------------------------------------------

function M.check()
  report.start("zeke: Neovim and config")
  H.check_neovim()
  H.check_config()
  H.check_state()
  local alias = H.ask_alias() -- the host answers while the doctor runs
  H.check_doctor()
  report.start("zeke: this project")
  H.report_alias(alias)
end

-- Private helpers --------------------------------------------------------------

--- Neovim's version: fine from the oldest release the suite runs on.
function H.check_neovim()
  local v = vim.version()
  local text = ("Neovim %d.%d.%d"):format(v.major, v.minor, v.patch)
  if v.major == 0 and v.minor < H.TESTED.min_minor then
    report.warn(
      ("%s: zeke is tested on %s"):format(text, H.TESTED.text),
      { ("Upgrade Neovim to 0.%d or newer."):format(H.TESTED.min_minor) }
    )
  else
    report.ok(text)
  end
end

function H.check_config()
  local config = require("zeke.config")
  local cfg = config.get()
  local errors = config.errors or {}
  if #errors == 0 then
    report.ok("configuration is valid")
  else
    for _, e in ipairs(errors) do
      report.warn(e, { "Fix the key in your setup() or vim.g.zeke; see :help zeke-config." })
    end
  end
  report.info(
    ("api_base %s, ollama_host %s, fallback %s, default alias %s"):format(
      cfg.api_base,
      cfg.ollama_host,
      tostring(cfg.fallback),
      cfg.alias
    )
  )
end

function H.check_state()
  local host = package.loaded["zeke.host"]
  local requests = package.loaded["zeke.requests"]
  if not (host and host.chan) then
    report.info("the Python host was not running (it starts now, to say which alias this project uses)")
    return
  end
  if requests and requests.degraded then
    local model = requests.degraded_model and (" (" .. requests.degraded_model .. ")") or ""
    report.warn("degraded mode now: OMEN was unreachable, answers come from local Ollama" .. model, {
      "zeke checks OMEN in the background and leaves degraded mode by itself once OMEN answers /ready.",
      "See the OMEN section below for why it is down.",
    })
  else
    report.ok(("the Python host is running (channel %d); not in degraded mode"):format(host.chan))
  end
end

--- Run the doctor; returns the decoded report or nil and an error message.
---@param python string the host's interpreter
---@param root string the plugin's root directory
---@return table|nil report, string|nil err
function H.run_doctor(python, root)
  local input = vim.json.encode(require("zeke.config").for_host())
  local cmd = { python, "-m", "zeke", "doctor", "--json" }
  local opts =
    { stdin = input, env = { PYTHONPATH = util.pythonpath(root) }, text = true, timeout = H.DOCTOR_TIMEOUT_MS }
  local ran, res = pcall(function()
    return vim.system(cmd, opts):wait()
  end)
  if not ran then
    return nil, ("could not run %s: %s"):format(python, tostring(res))
  end
  local code, stdout, stderr = res.code, res.stdout or "", res.stderr or ""
  if code == 124 then -- vim.system's timeout: TERM sent, exit code 124
    return nil, ("`%s -m zeke doctor` did not finish within %d s"):format(python, H.DOCTOR_TIMEOUT_MS / 1000)
  end
  -- a JSON null in an object becomes nil here, once (in a list it stays vim.NIL)
  local ok, decoded = pcall(vim.json.decode, stdout, { luanil = { object = true } })
  if not ok or type(decoded) ~= "table" or type(decoded.checks) ~= "table" then
    local tail = vim.trim((stderr ~= "" and stderr or stdout):sub(-600))
    local detail = tail ~= "" and (": " .. tail) or ""
    return nil, ("`%s -m zeke doctor` failed (exit %s)%s"):format(python, tostring(code), detail)
  end
  return decoded
end

function H.emit(check)
  local status = check.status
  local text = ("%s: %s"):format(check.name, check.message)
  local fix = check.fix
  if status == "ok" then
    report.ok(text)
  elseif status == "warn" then
    report.warn(text, fix and { fix } or nil)
  elseif status == "error" then
    report.error(text, fix and { fix } or nil)
  else
    report.info(fix and (text .. " — " .. fix) or text)
  end
end

function H.check_doctor()
  local hostmod = require("zeke.host")
  local python = hostmod.python()
  local root = hostmod.root()
  report.start("zeke: Python host")
  if vim.fn.executable(python) ~= 1 then
    report.error(("no Python interpreter for the host at %s"):format(python), {
      ("Run `make install` in %s (it creates .venv with pynvim, httpx, anyio, msgpack)."):format(root),
      "Or set the config key 'python' to an interpreter that has them.",
    })
    return
  end
  local result, err = H.run_doctor(python, root)
  if not result then
    report.error(err, {
      ("Run `make install` in %s, then `:checkhealth zeke` again."):format(root),
      "Running `python -m zeke doctor` in a shell shows the same report.",
    })
    return
  end
  local placed = {}
  for i, section in ipairs(H.SECTIONS) do
    if i > 1 then
      report.start(section.title)
    end
    for n, check in ipairs(result.checks) do
      if section.names[check.name] then
        placed[n] = true
        H.emit(check)
      end
    end
  end
  local rest = {}
  for n, check in ipairs(result.checks) do
    if not placed[n] then
      table.insert(rest, check)
    end
  end
  if #rest > 0 then
    report.start("zeke: other")
    for _, check in ipairs(rest) do
      H.emit(check)
    end
  end
end

--- Ask the host which alias this project's requests use (starting it, as any zeke
--- command does): it knows the :ZekeModel choices, saved or for this session only.
---@return { done: boolean, result: table|nil, err: string|nil }
function H.ask_alias()
  local answer = { done = false }
  local ok, err = pcall(require("zeke.host").call, "aliases", {
    cwd = vim.fn.getcwd(),
    project = require("zeke.config").get().project,
  }, function(result, call_err)
    answer.done, answer.result, answer.err = true, result, call_err
  end)
  if not ok then
    answer.done, answer.err = true, tostring(err)
  end
  return answer
end

---@param answer { done: boolean, result: table|nil, err: string|nil }
function H.report_alias(answer)
  vim.wait(H.ALIAS_TIMEOUT_MS, function()
    return answer.done
  end, 20)
  local r = answer.result
  if not answer.done or answer.err or type(r) ~= "table" then
    local why = answer.err or ("no answer within %d s"):format(H.ALIAS_TIMEOUT_MS / 1000)
    report.info(("which alias this project uses is unknown: the Python host did not tell (%s)"):format(why))
    return
  end
  local how = r.current == require("zeke.config").get().alias and "the config's `alias`" or "chosen with :ZekeModel"
  report.ok(("%s uses the alias %s (%s)"):format(util.one_line(r.project), util.one_line(r.current), how))
  if r.prefs ~= nil then
    report.info(
      ("routing prefs of %s: %s (:ZekePrefer, :ZekeBudget)"):format(util.one_line(r.project), util.one_line(r.prefs))
    )
  end
end

return M
