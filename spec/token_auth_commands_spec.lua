-- The token-auth command's modules, called in this process as the
-- dispatcher calls them: a failure comes back as nil, message, exit status
-- (an os.exit here would end the busted run), and only cli.lua exits.

local shell = require "spec.support.shell"

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "commands-spec-secret-0123456789"

describe("token-auth's command modules", function()
	local token_auth = require "token_auth"
	local exit = require "token_auth.exit"
	local tmp_dir = shell.temp_dir("token-auth-commands-spec")

	teardown(function()
		os.execute("rm -rf " .. shell.quote(tmp_dir))
	end)

	local function args(options, positional)
		return { options = options or {}, positional = positional or {}, token_auth = token_auth }
	end

	describe("command()", function()
		-- Bad arguments: { module, options, positional, message pattern }.
		local bad_arguments = {
			{ "token_auth.new_secret", {}, { "x" }, "new%-secret takes no arguments" },
			{ "token_auth.new_seed", {}, { "x" }, "new%-seed takes no arguments" },
			{ "token_auth.mint", {}, { "x" }, "mint takes no positional arguments" },
			{ "token_auth.check", {}, { "a", "b", "c" }, "check takes one TOKEN" },
			{ "token_auth.extauth", {}, { "x" }, "extauth takes no positional arguments" },
			{ "token_auth.revoke", {}, { "x" }, "revoke takes no positional arguments" },
			{ "token_auth.mint", { jid = "no-at-sign" }, {}, "exactly one @" },
			{ "token_auth.check", { jid = "a@b/c" }, {}, "without a /resource" },
			{ "token_auth.mint", { jid = "a@b", time = "later" }, {}, "%-%-time must be" },
			{ "token_auth.revoke", { host = "a@b" }, {}, "not a valid host name" },
			{ "token_auth.revoke", {}, {}, "give one of %-%-jid" },
		}
		for _, case in ipairs(bad_arguments) do
			local name, options, positional, pattern = case[1], case[2], case[3], case[4]
			it(("returns \"%s\" from %s as nil, message, 2"):format(pattern:gsub("%%", ""), name), function()
				local ok, message, status = require(name).command(args(options, positional))
				assert.is_nil(ok)
				assert.matches(pattern, message)
				assert.equal(exit.USAGE, status)
			end)
		end

		it("returns a configuration error as nil, message, 3, naming the option and no secret", function()
			local path = tmp_dir .. "/no-seed.cfg.lua"
			shell.write_file(path, ("token_secret = %q\nVirtualHost \"x.test\"\n"):format(SECRET))
			for name, positional in pairs({ ["token_auth.mint"] = {}, ["token_auth.check"] = { "1 x" } }) do
				local ok, message, status = require(name).command(args({ config = path, jid = "u@x.test" }, positional))
				assert.is_nil(ok, name)
				assert.matches("^configuration error for host x%.test: no otp_seed in ", message)
				assert.is_nil(message:find(SECRET, 1, true))
				assert.equal(exit.CONFIG, status, name)
			end
		end)

		it("returns a configuration without served hosts from extauth as nil, message, 3", function()
			local path = tmp_dir .. "/no-hosts.cfg.lua"
			shell.write_file(path, 'VirtualHost "x.test"\n')
			local output = require "token_auth.output"
			local said = {}
			output.sink = function(text, severity) said[#said + 1] = severity .. ": " .. text end
			local ok, message, status = require("token_auth.extauth").command(args({ config = path }))
			output.sink = nil
			assert.same({ "warning: token-auth: extauth: host x.test has no token_secret or otp_seed: not served" }, said)
			assert.is_nil(ok)
			assert.matches("no host in .* has a token_secret and an otp_seed", message)
			assert.equal(exit.CONFIG, status)
		end)
	end)

	describe("job", function()
		local job = require "token_auth.job"

		it("prepares --jid as servers compare it", function()
			assert.same({ "alice", "example.com", "Alice", "Example.COM" }, { job.jid(token_auth, "Alice@Example.COM") })
			assert.same({ nil, "--jid has an empty user part" }, { job.jid(token_auth, "@example.com") })
		end)

		it("reads --time as UTC, refusing days that do not exist", function()
			assert.equal(1709164800, job.parse_time("2024-02-29T00:00:00Z"))
			assert.equal(1700000010, job.parse_time("1700000010"))
			assert.is_nil(job.parse_time("2023-02-29T00:00:00Z"))
		end)

		it("gives the host's settings with the time", function()
			local path = tmp_dir .. "/ok.cfg.lua"
			shell.write_file(path, ("token_secret = %q\notp_seed = %q\nVirtualHost \"x.test\"\n"):format(SECRET, SEED))
			local prepared = assert(job.prepare(token_auth, { config = path, jid = "U@X.test", time = "1700000010" }))
			assert.equal("u", prepared.user)
			assert.equal("x.test", prepared.host)
			assert.equal(1700000010, prepared.settings.time)
			local token = token_auth.generate_token("u", "x.test", prepared.settings)
			assert.is_true(token_auth.verify_token("u", "x.test", token, prepared.settings))
		end)
	end)

	describe("native", function()
		local native = require "token_auth.native"

		it("names the build of this interpreter, where `make build` put the module loaded here", function()
			local tag = native.tag()
			assert.equal(type(jit) == "table" and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", "")), tag)
			local built = assert(io.open("build/" .. tag .. "/token_auth.so", "rb"))
			built:close()
		end)

		it("gives the module that require gives, with no path", function()
			assert.same({ token_auth }, { native.load("/nowhere/share/lua/5.4/mod_auth_token.lua") })
		end)
	end)

	it("exits only in the dispatcher (cli.lua)", function()
		local files = shell.capture("ls lua/token_auth/*.lua bin/token-auth")
		local exiting = {}
		for path in files:gmatch("[^\n]+") do
			if shell.read_file(path):find("os%.exit") then exiting[#exiting + 1] = path end
		end
		assert.same({ "lua/token_auth/cli.lua" }, exiting)
	end)
end)
