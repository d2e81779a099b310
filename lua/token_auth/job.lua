-- The job of mint and check: whom a token is for (--jid, prepared as
-- servers compare it), when (--time), and the settings of that host from
-- the configuration. revoke reads --jid the same way.

local config = require "token_auth.config"
local exit = require "token_auth.exit"
local output = require "token_auth.output"

local printable = output.printable

local job = {}

-- Days since the epoch of a UTC calendar date (proleptic Gregorian).
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

-- --time: seconds since the epoch, now, +N / -N seconds from now, or
-- YYYY-MM-DDTHH:MM:SSZ. Returns the seconds, or nil.
function job.parse_time(text)
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
-- nameprepped, the user nodeprepped. Returns user, host, raw_user,
-- raw_host; or nil and a usage message naming the problem.
function job.jid(token_auth, jid)
	if jid == nil then return nil, "--jid USER@HOST is required" end
	if jid:find("/", 1, true) then return nil, "--jid must be a bare JID (USER@HOST), without a /resource" end
	local user, host = jid:match("^([^@]*)@([^@]*)$")
	if not user then return nil, "--jid must be USER@HOST (exactly one @)" end
	if user == "" then return nil, "--jid has an empty user part" end
	if host == "" then return nil, "--jid has an empty host part" end
	local prepared_host, host_problem = token_auth.nameprep(host)
	if not prepared_host then
		return nil, "--jid: the host " .. printable(host) .. " is not a valid host name (nameprep): it " .. host_problem
	end
	local prepared_user, user_problem = token_auth.nodeprep(user)
	if not prepared_user then
		return nil, "--jid: the user " .. printable(user) .. " is not a valid username (nodeprep): it " .. user_problem
	end
	return prepared_user, prepared_host, user, host
end

-- The job of `options` (--jid, --time, --config): { user, host, raw_user,
-- raw_host, time, settings, config }; or nil, message, exit status.
function job.prepare(token_auth, options)
	local user, host, raw_user, raw_host = job.jid(token_auth, options.jid)
	if not user then return exit.usage(host) end
	local time
	if options.time then
		time = job.parse_time(options.time)
		if not time then
			return exit.usage("--time must be seconds since the epoch, +N or -N seconds, now, or YYYY-MM-DDTHH:MM:SSZ")
		end
	end
	local result, e = config.get(token_auth, options)
	if not result then return nil, e, exit.CONFIG end
	if result.path and #result.host_order > 0 and not result.hosts[host] then
		output.err_line("note: ", host, " is not a VirtualHost in ", result.path, ": using the global options")
	end
	local settings, problem = config.settings(token_auth, result, host, false)
	if not settings then return nil, problem, exit.CONFIG end
	settings.time = time
	return {
		user = user, host = host, raw_user = raw_user, raw_host = raw_host,
		time = time, settings = settings, config = result,
	}
end

return job
