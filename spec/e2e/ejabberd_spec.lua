-- End to end: a real ejabberd (Debian's package) whose auth_method is
-- external, running `token-auth extauth --protocol ejabberd`, and a real XMPP
-- client (slixmpp) logging in with tokens minted by pyotp + hmac (the README
-- recipe) as PLAIN passwords.

local HOST = "example.test"

describe("token-auth extauth behind ejabberd #e2e", function()
	local ejabberd = require "spec.support.ejabberd"
	local prosody = require "spec.support.prosody" -- for mint(): spec/support/mint.py
	local shell = require "spec.support.shell"

	local repo = ejabberd.repo_root()
	local seed = prosody.random_base32(repo)
	local secret = prosody.random_base32(repo)
	local config_dir, server, start_error
	local tokens = {}

	local function mint(user, time)
		local token = prosody.mint({ user = user, host = HOST, seed = seed, secret = secret, time = time, repo = repo })
		tokens[#tokens + 1] = token
		return token
	end

	setup(function()
		config_dir = shell.temp_dir("token-auth-e2e")
		-- The section is named in capitals: the helper keys it by its
		-- nameprepped name, the host ejabberd sends.
		shell.write_file(config_dir .. "/token.cfg.lua",
			("token_secret = %q\notp_seed = %q\nVirtualHost %q\n"):format(secret, seed, HOST:upper()))
		server, start_error = ejabberd.start({
			repo = repo,
			hosts = { HOST },
			extauth_command = { "lua5.4", repo .. "/bin/token-auth", "extauth", "--protocol", "ejabberd",
				"--config", config_dir .. "/token.cfg.lua" },
			extauth_env = { LUA_CPATH = repo .. "/build/lua54/?.so;;" },
		})
	end)

	teardown(function()
		if server then server:stop() end
		if config_dir then os.execute("rm -rf " .. shell.quote(config_dir)) end
	end)

	it("starts ejabberd on a free loopback port", function()
		assert.truthy(server, start_error)
		assert.is_true(server:alive())
	end)

	it("logs in with a pyotp-minted token as the PLAIN password", function()
		assert.truthy(server, start_error)
		local answer = server:login({ jid = "alice@" .. HOST, password = mint("alice") })
		assert.is_true(answer.ok, answer.condition)
		assert.matches("^alice@" .. HOST:gsub("%.", "%%.") .. "/", answer.jid)
	end)

	it("refuses the same token a second time", function()
		assert.truthy(server, start_error)
		local token = mint("bob")
		assert.is_true(server:login({ jid = "bob@" .. HOST, password = token }).ok)
		local again = server:login({ jid = "bob@" .. HOST, password = token })
		assert.is_false(again.ok)
		assert.equal("not-authorized", again.condition)
		assert.matches("auth for bob@" .. HOST .. " failed: replayed", server:extauth_log(), 1, true)
	end)

	it("refuses another user's token and an expired one, logging why", function()
		assert.truthy(server, start_error)
		local other = server:login({ jid = "carol@" .. HOST, password = mint("alice") })
		assert.is_false(other.ok)
		assert.equal("not-authorized", other.condition)
		local old = server:login({ jid = "carol@" .. HOST, password = mint("carol", os.time() - 600) })
		assert.is_false(old.ok)
		assert.equal("not-authorized", old.condition)
		local log = server:extauth_log()
		assert.matches("auth for carol@" .. HOST .. " failed: bad_signature", log, 1, true)
		assert.matches("auth for carol@" .. HOST .. " failed: otp_mismatch", log, 1, true)
	end)

	it("logs in a user whose name is not ASCII", function()
		assert.truthy(server, start_error)
		local user = "j\195\188rgen" -- jürgen
		local answer = server:login({ jid = user .. "@" .. HOST, password = mint(user) })
		assert.is_true(answer.ok, answer.condition)
	end)

	it("logs in as Alice with a token for alice: the server nodepreps, the helper agrees", function()
		assert.truthy(server, start_error)
		local answer = server:login({ jid = "Dave@" .. HOST, password = mint("dave") })
		assert.is_true(answer.ok, answer.condition)
	end)

	it("logs in with a token from `token-auth mint --jid Erin@EXAMPLE.TEST`", function()
		assert.truthy(server, start_error)
		local command = ("env LUA_CPATH=%s lua5.4 %s mint --config %s --jid Erin@%s 2>/dev/null"):format(
			shell.quote(repo .. "/build/lua54/?.so;;"), shell.quote(repo .. "/bin/token-auth"),
			shell.quote(config_dir .. "/token.cfg.lua"), HOST:upper())
		local token = shell.capture(command):gsub("\n$", "")
		tokens[#tokens + 1] = token
		local answer = server:login({ jid = "erin@" .. HOST, password = token })
		assert.is_true(answer.ok, answer.condition)
	end)

	it("answers every login of a burst as its own", function()
		assert.truthy(server, start_error)
		for i = 1, 6 do
			local user = "burst" .. i
			local good = i % 2 == 1
			local answer = server:login({ jid = user .. "@" .. HOST, password = mint(good and user or "someone") })
			assert.equal(good, answer.ok, user)
		end
	end)

	it("keeps the tokens out of every log", function()
		assert.truthy(server, start_error)
		local logs = server:log() .. server:extauth_log()
		for _, token in ipairs(tokens) do
			assert.not_matches(token:match(" (.*)$"), logs, 1, true)
			assert.not_matches(token:match("^%d+"), logs, 1, true)
		end
		assert.not_matches(secret, logs, 1, true)
	end)

	it("stops cleanly: ejabberd and its helper exit, nothing is killed", function()
		assert.truthy(server, start_error)
		local helpers = server:extauth_pids()
		assert.equal(1, #helpers) -- extauth_pool_size: 1, so one replay cache
		local vm = server.pid
		assert.is_true(server:stop())
		assert.is_false(server:alive())
		for _, pid in ipairs({ vm, helpers[1] }) do
			local cmdline = shell.read_file("/proc/" .. pid .. "/cmdline") or ""
			assert.not_matches("token-auth", cmdline, 1, true)
			assert.not_matches("ejabberd", cmdline, 1, true)
		end
	end)
end)
