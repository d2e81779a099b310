-- token-auth new-seed: a fresh otp_seed.

local util = require "token_auth.util"

return {
	options = {},
	help = [[
Usage: token-auth new-seed

Print a fresh value for otp_seed: 160 bits from the operating system's
CSPRNG, base32-encoded (32 characters, accepted by pyotp).
    otp_seed = "<the printed value>"
Exit status: 0.
]],
	run = function (args)
		if #args.positional > 0 then util.usage_error("new-seed takes no arguments") end
		util.out(util.native().new_seed())
		return util.EXIT_OK
	end,
}
