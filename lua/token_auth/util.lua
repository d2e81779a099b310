-- Shared by the token-auth command's modules: exit codes, output, the
-- native module, values made safe for a log line.

local util = {}

-- Called while a config runs, when strings have no methods (see config.lua).
local format, sub, gsub, byte = string.format, string.sub, string.gsub, string.byte

util.EXIT_OK = 0 -- done; for check: the token verifies
util.EXIT_REJECTED = 1 -- check: the token does not verify
util.EXIT_USAGE = 2 -- bad arguments
util.EXIT_CONFIG = 3 -- configuration missing, unreadable or invalid
util.EXIT_RUNTIME = 4 -- a required Lua module is missing
util.EXIT_STREAM = 5 -- extauth: the input stream was lost or fell out of step

util.PROGRAM = "token-auth"

function util.out(...)
	io.stdout:write(...)
	io.stdout:write("\n")
end

-- Where diagnostics go instead of standard error when set: a function
-- (text, severity) with severity "info", "warning" or "error" (see
-- extauth, whose standard error may be the channel it answers on).
util.log_sink = nil

-- A diagnostic line: on standard error, or to util.log_sink.
function util.err_line(...)
	if util.log_sink then
		util.log_sink(util.PROGRAM .. ": " .. table.concat({ ... }), "error")
		return
	end
	io.stderr:write(util.PROGRAM, ": ", ...)
	io.stderr:write("\n")
end

-- Functions run by util.exit before the process ends, last added first.
local exit_hooks = {}

function util.at_exit(fn)
	exit_hooks[#exit_hooks + 1] = fn
end

-- Ends the process with `status` after the exit hooks (each protected).
function util.exit(status)
	for i = #exit_hooks, 1, -1 do
		pcall(exit_hooks[i])
		exit_hooks[i] = nil
	end
	io.stdout:flush()
	os.exit(status)
end

-- A value safe to print in a log line: printable ASCII kept, the rest escaped, truncated.
function util.printable(s, max)
	s = tostring(s)
	max = max or 64
	local truncated = #s > max
	if truncated then s = sub(s, 1, max) end
	s = gsub(s, "[^\32-\126]", function (c) return format("\\x%02x", byte(c)) end)
	if truncated then s = s .. "..." end
	return s
end

-- The first line of an error value (no traceback in a log line).
function util.first_line(e)
	return (tostring(e):match("^[^\n]*"))
end

-- The native module; exits with EXIT_RUNTIME when it cannot be loaded.
function util.native()
	local native = require "token_auth.native"
	local mod, problem = native.load()
	if type(mod) == "table" and mod.make_stdin_raw then return mod end
	-- A module is built for one Lua: name the one running, and its build target.
	util.err_line("cannot load the native module token_auth for ", native.interpreter(), " (install the ",
		"prosody-token-auth rock, or in a checkout run `make build-", native.tag(), "` (or run bin/token-auth ",
		"with an interpreter already built, e.g. lua5.4), or put the directory of token_auth.so on LUA_CPATH): ",
		mod and "it is an older version" or util.first_line(problem))
	util.exit(util.EXIT_RUNTIME)
end

-- Usage errors: the dispatcher sets `util.command` to name the command in the hint.
function util.usage_error(message)
	util.err_line(message)
	local hint = "Run `token-auth " .. (util.command and (util.command .. " ") or "") .. "--help` for usage."
	if util.log_sink then
		util.log_sink(hint, "error")
	else
		io.stderr:write(hint, "\n")
	end
	util.exit(util.EXIT_USAGE)
end

-- Seconds since the epoch of a UTC calendar date (proleptic Gregorian).
local function days_from_civil(y, m, d)
	if m <= 2 then y = y - 1 end
	local era = math.floor(y / 400)
	local yoe = y - era * 400
	local mp = (m + 9) % 12
	local doy = math.floor((153 * mp + 2) / 5) + d - 1
	local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
	return era * 146097 + doe - 719468
end

local function days_in_month(y, m)
	if m == 2 then
		local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
		return leap and 29 or 28
	end
	return (m == 4 or m == 6 or m == 9 or m == 11) and 30 or 31
end

-- --time: seconds since the epoch, now, +N / -N seconds from now, or YYYY-MM-DDTHH:MM:SSZ.
function util.parse_time(text)
	if text == "now" then return os.time() end
	local sign, offset = text:match("^([%+%-])(%d+%.?%d*)$")
	if sign then
		offset = tonumber(offset)
		return os.time() + (sign == "+" and offset or -offset)
	end
	if text:match("^%d+%.?%d*$") then return tonumber(text) end
	local y, mo, d, h, mi, s = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)Z$")
	if y then
		y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
		-- The day must exist: 2024-02-30 is refused, not read as 2024-03-01.
		if mo >= 1 and mo <= 12 and d >= 1 and d <= days_in_month(y, mo) and h < 24 and mi < 60 and s < 61 then
			return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
		end
	end
	return nil
end

-- --jid USER@HOST, split and prepared as servers compare it: the host
-- nameprepped, the user nodeprepped. Returns user, host, raw_user, raw_host;
-- exits with a usage error naming the problem.
function util.jid_option(token_auth, jid)
	if jid == nil then util.usage_error("--jid USER@HOST is required") end
	if jid:find("/", 1, true) then util.usage_error("--jid must be a bare JID (USER@HOST), without a /resource") end
	local user, host = jid:match("^([^@]*)@([^@]*)$")
	if not user then util.usage_error("--jid must be USER@HOST (exactly one @)") end
	if user == "" then util.usage_error("--jid has an empty user part") end
	if host == "" then util.usage_error("--jid has an empty host part") end
	local prepared_host, host_problem = token_auth.nameprep(host)
	if not prepared_host then
		util.usage_error("--jid: the host " .. util.printable(host) .. " is not a valid host name (nameprep): it "
			.. host_problem)
	end
	local prepared_user, user_problem = token_auth.nodeprep(user)
	if not prepared_user then
		util.usage_error("--jid: the user " .. util.printable(user) .. " is not a valid username (nodeprep): it "
			.. user_problem)
	end
	return prepared_user, prepared_host, user, host
end

return util
