-- token-auth mint: a token for a JID, signed for the JID as servers
-- compare it (nodeprepped user, nameprepped host).

local exit = require "token_auth.exit"
local job = require "token_auth.job"
local output = require "token_auth.output"

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

function mint.command(args)
	if #args.positional > 0 then return exit.usage("mint takes no positional arguments") end
	local token_auth = args.token_auth
	local minted, problem, status = job.prepare(token_auth, args.options)
	if not minted then return nil, problem, status end
	if minted.user ~= minted.raw_user or minted.host ~= minted.raw_host then
		output.err_line("note: signed for ", output.printable(minted.user .. "@" .. minted.host, 200),
			", the nodeprepped user and nameprepped host that servers compare (given: ",
			output.printable(minted.raw_user .. "@" .. minted.raw_host, 200), ")")
	end
	if minted.settings.otp_seed == nil or minted.settings.token_secret == nil then
		-- A host with JWT keys alone is a valid configuration, but not one
		-- this command can sign for.
		return nil, "no otp_seed and token_secret for " .. output.printable(minted.host, 200)
			.. ": this host takes JWTs only, and mint makes tokens of the mod_auth_token format."
			.. " JWTs come from your identity provider (or PyJWT, see doc/jwt.md)", exit.CONFIG
	end
	local ok, token = pcall(token_auth.generate_token, minted.user, minted.host, minted.settings)
	if not ok then return exit.usage("cannot mint a token for this JID: " .. output.first_line(token)) end
	output.out(token)
	return true
end

return mint
