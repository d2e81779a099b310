-- token-auth mint: a token for a JID, signed for the JID as servers
-- compare it (nodeprepped user, nameprepped host).

local util = require "token_auth.util"
local config = require "token_auth.config"

local mint = {
	options = { config = true, jid = true, time = true },
	help = [[
Usage: token-auth mint --jid USER@HOST [--time T] [--config FILE]

Print a token for USER@HOST, with the configuration of VirtualHost HOST (or
the global options). The token is signed for the nodeprepped USER and the
nameprepped HOST, the names a server compares (Alice@Example.COM is signed
as alice@example.com); a USER that nodeprep refuses is an error.
  --jid USER@HOST  the account the token is for
  --time T         mint as at time T instead of now: seconds since the epoch,
                   +N / -N seconds from now, or UTC as 2024-05-01T12:00:00Z
  --config FILE    see `token-auth --help`
Exit status: 0 printed; 2 bad arguments; 3 configuration error.
]],
}

-- Shared with check: the prepared JID, the time, the settings for its host.
function mint.prepare(args, token_auth)
	local user, host, raw_user, raw_host = util.jid_option(token_auth, args.options.jid)
	local time
	if args.options.time then
		time = util.parse_time(args.options.time)
		if not time then
			util.usage_error("--time must be seconds since the epoch, +N or -N seconds, now, or YYYY-MM-DDTHH:MM:SSZ")
		end
	end
	local result, e = config.get(token_auth, args.options)
	if not result then
		util.err_line(e)
		os.exit(util.EXIT_CONFIG)
	end
	if result.path and #result.host_order > 0 and not result.hosts[host] then
		util.err_line("note: ", host, " is not a VirtualHost in ", result.path, ": using the global options")
	end
	local settings = config.settings(token_auth, result, host, false)
	settings.time = time
	return {
		user = user, host = host, raw_user = raw_user, raw_host = raw_host,
		time = time, settings = settings, config = result,
	}
end

function mint.run(args)
	if #args.positional > 0 then util.usage_error("mint takes no positional arguments") end
	local token_auth = util.native()
	local job = mint.prepare(args, token_auth)
	if job.user ~= job.raw_user or job.host ~= job.raw_host then
		util.err_line("note: signed for ", util.printable(job.user .. "@" .. job.host, 200),
			", the nodeprepped user and nameprepped host that servers compare (given: ",
			util.printable(job.raw_user .. "@" .. job.raw_host, 200), ")")
	end
	local ok, token = pcall(token_auth.generate_token, job.user, job.host, job.settings)
	if not ok then
		util.err_line("cannot mint a token for this JID: ", util.first_line(token))
		return util.EXIT_USAGE
	end
	util.out(token)
	return util.EXIT_OK
end

return mint
