-- token-auth new-secret: a fresh token_secret.

local exit = require "token_auth.exit"
local output = require "token_auth.output"

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
	command = function (args)
		if #args.positional > 0 then return exit.usage("new-secret takes no arguments") end
		output.out(args.token_auth.new_secret())
		return true
	end,
}
