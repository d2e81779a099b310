-- token-auth new-secret: a fresh token_secret.

local util = require "token_auth.util"

return {
	options = {},
	help = [[
Usage: token-auth new-secret

Print a fresh value for token_secret: 256 bits from the operating system's
CSPRNG, base32-encoded. The value is used as is (its bytes are the HMAC key).
Put it in the server's configuration and give it to the token generator:
    token_secret = "<the printed value>"
Exit status: 0.
]],
	run = function (args)
		if #args.positional > 0 then util.usage_error("new-secret takes no arguments") end
		util.out(util.native().new_secret())
		return util.EXIT_OK
	end,
}
