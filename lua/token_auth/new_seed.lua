-- token-auth new-seed: a fresh otp_seed.

local exit = require "token_auth.exit"
local output = require "token_auth.output"

return {
	options = {},
	help = [[
Usage: token-auth new-seed

Print a fresh value for otp_seed: 160 bits from the operating system's
CSPRNG, base32-encoded (32 characters, accepted by pyotp).
    otp_seed = "<the printed value>"
Exit status: 0.
]],
	command = function (args)
		if #args.positional > 0 then return exit.usage("new-seed takes no arguments") end
		output.out(args.token_auth.new_seed())
		return true
	end,
}
