rockspec_format = "3.0"
package = "prosody-token-auth"
version = "scm-1"

source = {
	url = "git+https://github.com/prosody-token-auth/prosody-token-auth.git",
	branch = "main",
}

description = {
	summary = "Token authentication for Prosody, native and drop-in for mod_auth_token",
	detailed = [[
		Verifies and mints the tokens of Prosody's community mod_auth_token
		(TOTP + nonce + HMAC-SHA256) in a Rust native module, with strict
		parsing, constant-time comparison, a bounded replay cache and key
		rotation. Ships the auth provider and the X-TOKEN SASL mechanism.
	]],
	homepage = "https://github.com/prosody-token-auth/prosody-token-auth",
	license = "MIT",
	labels = { "prosody", "xmpp", "authentication", "totp", "hmac" },
}

dependencies = {
	"lua >= 5.1",
}

build_dependencies = {
	"luarocks-build-rust-mlua >= 0.2.6",
}

build = {
	type = "rust-mlua",
	modules = {
		"token_auth",
	},
	install = {
		lua = {
			["mod_auth_token"] = "lua/mod_auth_token.lua",
			-- mod_auth_token's module:require "store_wait" (found as <plugin>/store_wait.lua).
			["mod_auth_token.store_wait"] = "lua/mod_auth_token/store_wait.lib.lua",
			["mod_sasl_token"] = "lua/mod_sasl_token.lua",
			-- mod_auth_token's helper (module:require "jwks" finds jwks.lua there too).
			["mod_auth_token.jwks"] = "lua/mod_auth_token/jwks.lib.lua",
			-- mod_auth_token's accounts (module:require "accounts").
			["mod_auth_token.accounts"] = "lua/mod_auth_token/accounts.lib.lua",
			-- The token-auth command's modules (bin/token-auth dispatches to them).
			-- token_auth.native locates the native module for the plugin too.
			["token_auth.cli"] = "lua/token_auth/cli.lua",
			["token_auth.native"] = "lua/token_auth/native.lua",
			["token_auth.exit"] = "lua/token_auth/exit.lua",
			["token_auth.output"] = "lua/token_auth/output.lua",
			["token_auth.config"] = "lua/token_auth/config.lua",
			["token_auth.job"] = "lua/token_auth/job.lua",
			["token_auth.new_secret"] = "lua/token_auth/new_secret.lua",
			["token_auth.new_seed"] = "lua/token_auth/new_seed.lua",
			["token_auth.mint"] = "lua/token_auth/mint.lua",
			["token_auth.check"] = "lua/token_auth/check.lua",
			["token_auth.extauth"] = "lua/token_auth/extauth.lua",
			["token_auth.revoke"] = "lua/token_auth/revoke.lua",
		},
		bin = {
			["token-auth"] = "bin/token-auth",
		},
	},
}

test = {
	type = "busted",
}
