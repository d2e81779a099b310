-- The token-auth command (bin/token-auth), run as a separate process by the
-- interpreter that runs busted, with the native module built for it.

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "cli-spec-secret-0123456789"
local OTHER_SECRET = "cli-spec-other-secret-9876"
local T = 1700000010 -- the first second of a 30 s step (1700000010 % 30 == 0)

local shell = require "spec.support.shell"
local shell_quote, read_file, write_file, capture = shell.quote, shell.read_file, shell.write_file, shell.capture

local repo = shell.repo_root()

-- The interpreter running this spec, and the build of the module for it.
local lua, build = shell.interpreter()

local tmp_dir = shell.temp_dir("token-auth-cli-spec")

-- Runs bin/token-auth with `args` (a list); opts.stdin, opts.env ({ NAME = value }),
-- opts.cpath (false: no LUA_CPATH). Returns { status, stdout, stderr }.
local function token_auth_cli(args, opts)
	opts = opts or {}
	local words = { "env", "-u", "LUA_CPATH_5_4", "-u", "LUA_CPATH_5_3", "-u", "LUA_CPATH_5_2",
		"-u", "TOKEN_AUTH_CONFIG", "-u", "TOKEN_AUTH_SECRET", "-u", "TOKEN_AUTH_OTP_SEED" }
	if opts.cpath ~= false then
		words[#words + 1] = "LUA_CPATH=" .. shell_quote(repo .. "/build/" .. build .. "/?.so;;")
	else
		words[#words + 1] = "-u"
		words[#words + 1] = "LUA_CPATH"
	end
	local names = {}
	for name in pairs(opts.env or {}) do names[#names + 1] = name end
	table.sort(names)
	for _, name in ipairs(names) do
		words[#words + 1] = name .. "=" .. shell_quote(opts.env[name])
	end
	words[#words + 1] = lua
	words[#words + 1] = shell_quote(repo .. "/bin/token-auth")
	for _, a in ipairs(args) do words[#words + 1] = shell_quote(a) end
	local stdin_path = tmp_dir .. "/stdin"
	write_file(stdin_path, opts.stdin or "")
	local command = ("%s <%s >%s 2>%s; echo $?"):format(table.concat(words, " "), shell_quote(stdin_path),
		shell_quote(tmp_dir .. "/stdout"), shell_quote(tmp_dir .. "/stderr"))
	local status = tonumber(capture(command):match("%d+"))
	return { status = status, stdout = read_file(tmp_dir .. "/stdout"), stderr = read_file(tmp_dir .. "/stderr") }
end

local function config_file(name, text)
	local path = tmp_dir .. "/" .. name
	write_file(path, text)
	return path
end

local function assert_no_traceback(result)
	assert.not_matches("traceback", result.stderr)
	assert.not_matches("%.lua:%d+:", result.stderr)
end

describe("token-auth", function()
	local token_auth = require "token_auth"

	local basic_config = config_file("basic.cfg.lua", ([[
token_secret = %q
otp_seed = %q
VirtualHost "example.test"
]]):format(SECRET, SEED))

	teardown(function()
		os.execute("rm -rf " .. shell_quote(tmp_dir))
	end)

	describe("new-secret and new-seed", function()
		it("print fresh base32 values from the CSPRNG, ready for the config", function()
			local a = token_auth_cli({ "new-secret" })
			local b = token_auth_cli({ "new-secret" })
			assert.equal(0, a.status)
			assert.matches("^[A-Z2-7]+\n$", a.stdout)
			assert.is_true(#a.stdout - 1 >= 52) -- 256 bits
			assert.not_equal(a.stdout, b.stdout)
			local s = token_auth_cli({ "new-seed" })
			assert.equal(0, s.status)
			assert.matches("^[A-Z2-7]+\n$", s.stdout)
			assert.equal(32, #s.stdout - 1) -- 160 bits, pyotp's size
			assert.not_equal(s.stdout, token_auth_cli({ "new-seed" }).stdout)
		end)

		it("make values the module accepts as otp_seed and token_secret", function()
			local seed = token_auth_cli({ "new-seed" }).stdout:gsub("\n", "")
			local secret = token_auth_cli({ "new-secret" }).stdout:gsub("\n", "")
			assert.truthy(token_auth.new_verifier({ otp_seed = seed, token_secret = secret }))
		end)

		it("refuse arguments", function()
			local r = token_auth_cli({ "new-seed", "extra" })
			assert.equal(2, r.status)
			assert.equal("", r.stdout)
		end)
	end)

	describe("mint", function()
		it("prints a token that verifies for the JID at that time", function()
			local r = token_auth_cli({ "mint", "--config", basic_config, "--jid", "alice@example.test", "--time", tostring(T) })
			assert.equal(0, r.status)
			local token = r.stdout:match("^(%d+ [%w+/=]+)\n$")
			assert.truthy(token)
			local config = { otp_seed = SEED, token_secret = SECRET, time = T }
			assert.is_true(token_auth.verify_token("alice", "example.test", token, config))
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("bob", "example.test", token, config) })
			config.time = T + 3600
			assert.same({ nil, "otp_mismatch" }, { token_auth.verify_token("alice", "example.test", token, config) })
		end)

		it("mints with the current time by default", function()
			local r = token_auth_cli({ "mint", "--config", basic_config, "--jid", "alice@example.test" })
			assert.equal(0, r.status)
			local token = r.stdout:gsub("\n$", "")
			assert.is_true(token_auth.verify_token("alice", "example.test", token, { otp_seed = SEED, token_secret = SECRET }))
		end)

		it("accepts --time as UTC date, and relative to now", function()
			local iso = token_auth_cli({ "mint", "--config", basic_config, "--jid", "a@example.test",
				"--time", "2023-11-14T22:13:30Z" })
			assert.equal(0, iso.status)
			local token = iso.stdout:gsub("\n$", "")
			-- 2023-11-14T22:13:30Z is 1700000010.
			assert.is_true(token_auth.verify_token("a", "example.test", token,
				{ otp_seed = SEED, token_secret = SECRET, time = T, window = 0 }))
			local ahead = token_auth_cli({ "mint", "--config", basic_config, "--jid", "a@example.test", "--time", "+600" })
			assert.equal(0, ahead.status)
			assert.same({ nil, "otp_mismatch" }, { token_auth.verify_token("a", "example.test",
				(ahead.stdout:gsub("\n$", "")), { otp_seed = SEED, token_secret = SECRET }) })
			-- Leap days exist where the calendar has them, and no other day past a month's end.
			local leap = token_auth_cli({ "mint", "--config", basic_config, "--jid", "a@example.test",
				"--time", "2024-02-29T00:00:00Z" })
			assert.equal(0, leap.status, leap.stderr)
			for _, date in ipairs({ "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
				"2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z" }) do
				local r = token_auth_cli({ "mint", "--config", basic_config, "--jid", "a@example.test", "--time", date })
				assert.equal(2, r.status, date)
				assert.matches("--time must be", r.stderr, 1, true)
			end
		end)

		it("uses the VirtualHost's options over the global ones", function()
			local path = config_file("hosts.cfg.lua", ([[
token_secret = %q
otp_seed = %q
token_nonce_length = 20
VirtualHost "a.test"
	token_otp_digits = 10
VirtualHost "b.test"
	token_secret = %q
]]):format(SECRET, SEED, OTHER_SECRET))
			local a = token_auth_cli({ "mint", "--config", path, "--jid", "u@a.test", "--time", tostring(T) })
			assert.equal(0, a.status)
			assert.equal(30, #a.stdout:match("^(%d+) "))
			assert.is_true(token_auth.verify_token("u", "a.test", (a.stdout:gsub("\n$", "")),
				{ otp_seed = SEED, token_secret = SECRET, digits = 10, nonce_length = 20, time = T }))
			local b = token_auth_cli({ "mint", "--config", path, "--jid", "u@b.test", "--time", tostring(T) })
			assert.equal(0, b.status)
			assert.is_true(token_auth.verify_token("u", "b.test", (b.stdout:gsub("\n$", "")),
				{ otp_seed = SEED, token_secret = OTHER_SECRET, nonce_length = 20, time = T }))
		end)

		it("mints with the first of several secrets", function()
			local path = config_file("rotation.cfg.lua", ("token_secret = { %q, %q }\notp_seed = %q\n")
				:format(OTHER_SECRET, SECRET, SEED))
			local r = token_auth_cli({ "mint", "--config", path, "--jid", "u@x.test", "--time", tostring(T) })
			assert.equal(0, r.status)
			assert.is_true(token_auth.verify_token("u", "x.test", (r.stdout:gsub("\n$", "")),
				{ otp_seed = SEED, token_secret = OTHER_SECRET, time = T }))
		end)

		it("reads the secret and the seed from the environment", function()
			local r = token_auth_cli({ "mint", "--jid", "u@x.test", "--time", tostring(T) },
				{ env = { TOKEN_AUTH_SECRET = SECRET, TOKEN_AUTH_OTP_SEED = SEED } })
			assert.equal(0, r.status)
			assert.is_true(token_auth.verify_token("u", "x.test", (r.stdout:gsub("\n$", "")),
				{ otp_seed = SEED, token_secret = SECRET, time = T }))
			local from_env_file = token_auth_cli({ "mint", "--jid", "u@example.test", "--time", tostring(T) },
				{ env = { TOKEN_AUTH_CONFIG = basic_config } })
			assert.equal(0, from_env_file.status)
		end)

		it("signs the nodeprepped user and the nameprepped host, with that host's options", function()
			local path = config_file("mixed.cfg.lua", ([[
token_secret = %q
otp_seed = %q
VirtualHost "Mixed.Test"
	token_secret = %q
]]):format(SECRET, SEED, OTHER_SECRET))
			local host_config = { otp_seed = SEED, token_secret = OTHER_SECRET, time = T }
			for _, jid in ipairs({ "Alice@Mixed.Test", "alice@mixed.test", "ALICE@MIXED.TEST" }) do
				local r = token_auth_cli({ "mint", "--config", path, "--jid", jid, "--time", tostring(T) })
				assert.equal(0, r.status)
				local token = r.stdout:gsub("\n$", "")
				assert.is_true(token_auth.verify_token("alice", "mixed.test", token, host_config), jid)
				assert.not_matches("not a VirtualHost", r.stderr)
				if jid ~= "alice@mixed.test" then
					assert.matches("note: signed for alice@mixed.test", r.stderr, 1, true)
				else
					assert.equal("", r.stderr)
				end
			end
			-- Beyond ASCII: nodeprep case-folds and normalises.
			local r = token_auth_cli({ "mint", "--config", path, "--jid", "J\195\156RGEN@mixed.test", "--time", tostring(T) })
			assert.equal(0, r.status)
			assert.is_true(token_auth.verify_token("j\195\188rgen", "mixed.test", (r.stdout:gsub("\n$", "")), host_config))
		end)

		it("refuses a username that nodeprep refuses, naming the problem", function()
			for _, case in ipairs({
				{ "a b@example.test", "prohibited character ` `" },
				{ "a:b@example.test", "prohibited character `:`" },
				{ "a\7b@example.test", "prohibited character `U%+0007`" },
				{ "\255@example.test", "not valid UTF%-8" },
			}) do
				local r = token_auth_cli({ "mint", "--config", basic_config, "--jid", case[1] })
				assert.equal(2, r.status)
				assert.equal("", r.stdout)
				assert.matches("not a valid username %(nodeprep%): it .*" .. case[2], r.stderr)
				assert_no_traceback(r)
			end
			local r = token_auth_cli({ "mint", "--config", basic_config, "--jid", "a@bad\7host" })
			assert.equal(2, r.status)
			assert.matches("not a valid host name %(nameprep%)", r.stderr)
		end)

		it("refuses bad arguments with exit status 2 and a clear message", function()
			local cases = {
				{ { "mint", "--config", basic_config }, "%-%-jid" },
				{ { "mint", "--config", basic_config, "--jid", "alice" }, "USER@HOST" },
				{ { "mint", "--config", basic_config, "--jid", "a@b@c" }, "exactly one @" },
				{ { "mint", "--config", basic_config, "--jid", "a@example.test/res" }, "resource" },
				{ { "mint", "--config", basic_config, "--jid", "@example.test" }, "empty user" },
				{ { "mint", "--config", basic_config, "--jid", "a@example.test", "--time", "yesterday" }, "%-%-time" },
				{ { "mint", "--config", basic_config, "--jid", "a@example.test", "--secret", SECRET }, "unknown option" },
				{ { "mint", "--config", basic_config, "--jid", "a@example.test", "--protocol", "generic" },
					"does not take %-%-protocol" },
				{ { "mint", "--jid" }, "needs a value" },
				{ { "frobnicate" }, "unknown command" },
				{ {}, "a command is needed" },
			}
			for _, case in ipairs(cases) do
				local r = token_auth_cli(case[1])
				assert.equal(2, r.status)
				assert.equal("", r.stdout)
				assert.matches(case[2], r.stderr)
				assert_no_traceback(r)
				assert.not_matches(SECRET, r.stderr, 1, true)
			end
		end)
	end)

	describe("configuration", function()
		it("evaluates a whole Prosody config in a sandbox, ignoring everything else", function()
			local marker = tmp_dir .. "/executed"
			local path = config_file("prosody.cfg.lua", ([[
-- a Prosody configuration, mostly not ours
admins = { "admin@example.test" }
plugin_paths = { "/usr/local/lib/prosody/modules" }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "auth_token"; "sasl_token" }
authentication = "token"
log = { info = "/var/log/prosody/prosody.log"; error = "*syslog" }
certificates = "certs"
pidfile = prosody.paths.data .. "/prosody.pid"
limits = { c2s = { rate = 10*1024 } }
token_secret = %q
otp_seed = %q
os.execute("touch %s")
io.open(%q, "w")
require("os").exit(1)
dofile("/etc/passwd")
VirtualHost "example.test"
	ssl = { key = "a.key"; certificate = "a.crt" }
	token_otp_digits = 9
Component "conference.example.test" "muc"
	token_otp_digits = 6
	modules_enabled = { "muc_mam" }
Component "proxy.example.test" "proxy65"
VirtualHost "other.test" {
	token_nonce_length = 16;
}
]]):format(SECRET, SEED, marker, marker))
			local r = token_auth_cli({ "mint", "--config", path, "--jid", "u@example.test", "--time", tostring(T) })
			assert.equal(0, r.status)
			assert_no_traceback(r)
			assert.is_nil(read_file(marker))
			-- The Component's options went to the component, not to example.test.
			assert.equal(9 + 32, #r.stdout:match("^(%d+) "))
			local other = token_auth_cli({ "mint", "--config", path, "--jid", "u@other.test", "--time", tostring(T) })
			assert.equal(0, other.status)
			assert.equal(8 + 16, #other.stdout:match("^(%d+) "))
		end)

		it("follows Include as Prosody does and reads ENV_ names from the environment", function()
			-- The included file starts in the global section; the including
			-- file stays in its section (x.test) after the Include.
			config_file("included.cfg.lua", ("otp_seed = %q\n"):format(SEED))
			local path = config_file("main.cfg.lua", 'VirtualHost "x.test"\nInclude "included.cfg.lua"\n'
				.. "token_secret = ENV_CLI_SPEC_SECRET\ntoken_otp_digits = 9\n")
			local env = { env = { CLI_SPEC_SECRET = SECRET } }
			local r = token_auth_cli({ "mint", "--config", path, "--jid", "u@x.test", "--time", tostring(T) }, env)
			assert.equal(0, r.status)
			assert.is_true(token_auth.verify_token("u", "x.test", (r.stdout:gsub("\n$", "")),
				{ otp_seed = SEED, token_secret = SECRET, digits = 9, time = T }))
			local global = token_auth_cli({ "mint", "--config", path, "--jid", "u@y.test" }, env)
			assert.equal(3, global.status)
			assert.matches("no token_secret", global.stderr)
		end)

		it("says what is missing, with exit status 3", function()
			local r = token_auth_cli({ "mint", "--jid", "u@x.test" })
			assert.equal(3, r.status)
			assert.matches("no token_secret", r.stderr)
			local only_secret = config_file("only-secret.cfg.lua", ("token_secret = %q\n"):format(SECRET))
			r = token_auth_cli({ "mint", "--config", only_secret, "--jid", "u@x.test" })
			assert.equal(3, r.status)
			assert.matches("no otp_seed", r.stderr)
			assert.not_matches(SECRET, r.stderr, 1, true)
			r = token_auth_cli({ "mint", "--config", tmp_dir .. "/does-not-exist.cfg.lua", "--jid", "u@x.test" })
			assert.equal(3, r.status)
			assert.matches("does%-not%-exist", r.stderr)
		end)

		it("names a bad option without printing any secret", function()
			local cases = {
				{ ("token_secret = %q\notp_seed = %q\ntoken_otp_window = 99\n"):format(SECRET, SEED), "token_otp_window" },
				{ ("token_secret = %q\notp_seed = %q\n"):format("short", SEED), "token_secret" },
				{ ("token_secret = %q\notp_seed = %q\n"):format(SECRET, "NOT-BASE32!"), "otp_seed" },
				{ ("token_secret = 42\notp_seed = %q\n"):format(SEED), "token_secret: must be a string" },
				{ ("token_secret = %q\notp_seed = %q\ntoken_otp_digits = \"8\"\n"):format(SECRET, SEED),
					"token_otp_digits: must be an integer" },
				{ ("token_secret = %q\notp_seed = os.getenv('X')\n"):format(SECRET), "otp_seed" },
				{ "token_secret = = 1\n", "cannot read the configuration" },
			}
			for i, case in ipairs(cases) do
				local path = config_file("bad" .. i .. ".cfg.lua", case[1])
				local r = token_auth_cli({ "mint", "--config", path, "--jid", "u@x.test" })
				assert.equal(3, r.status)
				assert.equal("", r.stdout)
				assert.matches(case[2], r.stderr)
				assert.not_matches(SECRET, r.stderr, 1, true)
				assert.not_matches(SEED, r.stderr, 1, true)
				assert.not_matches("traceback", r.stderr)
			end
		end)
	end)

	describe("configuration errors", function()
		-- Each case: the file, and what the message must say (file:line: kind).
		it("give the file, the line and the kind of error, never the text of the file", function()
			local secret_text = "hunter2hunter2"
			config_file("secret.txt", secret_text .. " is the password\n")
			local cases = {
				{ "comma.cfg", ('otp_seed = %q\ntoken_secret = { "NEW%s" "OLD%s" }\n'):format(SEED, secret_text,
					secret_text), ":2: a syntax error: something missing" },
				{ "quote.cfg", ('otp_seed = %q\ntoken_secret = "%s\n'):format(SEED, secret_text),
					":2: a syntax error: an unfinished string" },
				{ "include.cfg", 'Include "secret.txt"\n', "secret.txt:1: a syntax error" },
				{ "arith.cfg", ('token_secret = "%s" + 1\n'):format(secret_text), ":1: a runtime error: attempt to" },
				{ "long.cfg", ("token_secret = [[%s\n"):format(secret_text), ":2: a syntax error: an unfinished long string" },
				-- Lua 5.2 and 5.3 read "3" and then a name: the error is at the end of the file.
				{ "number.cfg", ("token_otp_window = 3%s\n"):format(secret_text),
					(_VERSION == "Lua 5.2" or _VERSION == "Lua 5.3") and ":2: a syntax error" or ":1: a syntax error" },
				{ "call.cfg", ('local t = nil\nt.%s = 1\n'):format(secret_text), ":2: a runtime error: attempt to index" },
				{ "vhost.cfg", "VirtualHost(42)\n", ":1: VirtualHost needs a host name" },
			}
			for _, case in ipairs(cases) do
				local path = config_file(case[1], case[2])
				for _, command in ipairs({ { "mint", "--jid", "u@x.test" }, { "check", "--jid", "u@x.test", "1 x" },
					{ "extauth" } }) do
					local args = { command[1], "--config", path }
					for i = 2, #command do args[#args + 1] = command[i] end
					local r = token_auth_cli(args)
					assert.equal(3, r.status, case[1])
					assert.matches(case[3], r.stderr, 1, true)
					assert.not_matches(secret_text, r.stderr, 1, true)
					assert.not_matches(SEED, r.stderr, 1, true)
					assert.not_matches("near", r.stderr, 1, true)
					assert_no_traceback(r)
				end
			end
		end)

		it("stop an endless or greedy configuration with a clear message", function()
			for _, case in ipairs({
				{ "loop.cfg", "while true do end\n", ":1: the configuration ran for more than" },
				{ "recursion.cfg", "local function f() return f() + 1 end\nf()\n", "" },
				{ "memory.cfg", 'local s = "0123456789abcdef"\nwhile true do s = s .. s end\n', "MB of memory" },
				{ "tables.cfg", "local t = {}\nwhile true do t[#t + 1] = { 1, 2, 3, 4 } end\n",
					"the configuration " },
				{ "rep.cfg", 'token_secret = ("x"):rep(1e10)\n', ":1: a runtime error" },
			}) do
				local started = os.time()
				local r = token_auth_cli({ "mint", "--config", config_file(case[1], case[2]), "--jid", "u@x.test" })
				assert.equal(3, r.status, case[1])
				assert.matches("cannot read the configuration: .*" .. case[1], r.stderr)
				assert.matches(case[3], r.stderr, 1, true)
				assert_no_traceback(r)
				assert.is_true(os.time() - started < 10, case[1])
			end
		end)
	end)

	describe("options", function()
		it("come from the core's list: help, config reading and the reference's tables agree with token_auth.options", function()
			local help = token_auth_cli({ "--help" }).stdout:gsub("%s+", " ")
			-- The option tables of the reference: doc/configuration.md (by Prosody
			-- name), doc/lua-api.md (by field name), doc/jwt.md (the JWT options).
			local readme = read_file(repo .. "/doc/configuration.md") .. read_file(repo .. "/doc/lua-api.md")
				.. read_file(repo .. "/doc/jwt.md")
			local lines_with = function(pattern)
				local found = {}
				for line in readme:gmatch("[^\n]+") do
					-- Option rows have three columns (reason-code rows two).
					local _, bars = line:gsub("|", "")
					if line:find(pattern, 1, true) and bars == 4 then found[#found + 1] = line end
				end
				return found
			end
			assert.is_true(#token_auth.options >= 8)
			for _, option in ipairs(token_auth.options) do
				assert.matches(option.prosody, help, 1, true)
				-- An option without a default (the replay store) is "none" there.
				local default = option.required and "required" or option.default == nil and "none"
					or tostring(option.default)
				local range = option.min and (option.min .. " to " .. option.max)
				-- The Prosody table (by Prosody name) and the Lua table (by field name).
				for _, name in ipairs({ option.prosody, option.name }) do
					local rows = lines_with("| `" .. name .. "` |")
					assert.is_true(#rows >= 1, "doc/ has no row for " .. name)
					for _, row in ipairs(rows) do
						assert.matches(default, row, 1, true)
						if range then assert.matches(range, row, 1, true) end
					end
				end
			end
		end)

		it("are read generically: every option of the list reaches the core from a config file", function()
			-- Each integer option set out of range is refused under its Prosody name.
			for _, option in ipairs(token_auth.options) do
				if option.type == "integer" then
					-- The store's timeouts mean something only with a store (never reached here).
					local store = option.name:find("^replay_store_") and 'token_replay_store = "redis://127.0.0.1:1"\n' or ""
					-- Likewise the JWT options with a JWT secret.
					if option.name:find("^jwt_") then
						store = ('token_jwt_secret = %q\ntoken_jwt_keys_url = "https://idp.test/jwks"\n')
							:format(SECRET .. SECRET)
					end
					local path = config_file("range-" .. option.name .. ".cfg.lua", ("token_secret = %q\notp_seed = %q\n%s%s = %d\n")
						:format(SECRET, SEED, store, option.prosody, option.max + 1))
					local r = token_auth_cli({ option.verifier_only and "extauth" or "mint", "--config", path,
						"--jid", "u@x.test" }, {})
					if option.verifier_only then
						r = token_auth_cli({ "extauth", "--config", path })
					end
					assert.equal(3, r.status, option.prosody)
					assert.matches("configuration error for host .*: " .. option.prosody:gsub("_", "%%_") .. ": must be",
						r.stderr)
				end
			end
		end)
	end)

	describe("check", function()
		local function mint(jid, time, config)
			local r = token_auth_cli({ "mint", "--config", config or basic_config, "--jid", jid, "--time", tostring(time) })
			assert.equal(0, r.status)
			return (r.stdout:gsub("\n$", ""))
		end

		local function check(jid, token, time, extra)
			local args = { "check", "--config", basic_config, "--jid", jid }
			if time then
				args[#args + 1] = "--time"
				args[#args + 1] = tostring(time)
			end
			for _, a in ipairs(extra or {}) do args[#args + 1] = a end
			if token then args[#args + 1] = token end
			return token_auth_cli(args)
		end

		it("says OK and exits 0 for a token that verifies", function()
			local r = check("alice@example.test", mint("alice@example.test", T), T)
			assert.equal(0, r.status)
			assert.matches("^OK: the token verifies for alice@example.test", r.stdout)
			assert.matches("replay cache", r.stdout)
		end)

		it("reads the token from standard input", function()
			local token = mint("alice@example.test", T)
			local r = token_auth_cli({ "check", "--config", basic_config, "--jid", "alice@example.test",
				"--time", tostring(T) }, { stdin = token .. "\n" })
			assert.equal(0, r.status)
			r = token_auth_cli({ "check", "--config", basic_config, "--jid", "alice@example.test",
				"--time", tostring(T), "-" }, { stdin = token .. "\r\n" })
			assert.equal(0, r.status)
		end)

		it("puts an unquoted token back together", function()
			local token = mint("alice@example.test", T)
			local digits, signature = token:match("^(%d+) (.*)$")
			local r = token_auth_cli({ "check", "--config", basic_config, "--jid", "alice@example.test",
				"--time", tostring(T), digits, signature })
			assert.equal(0, r.status)
		end)

		it("cannot tell a wrong user from a wrong secret, and says so", function()
			local r = check("bob@example.test", mint("alice@example.test", T), T)
			assert.equal(1, r.status)
			assert.matches("bad_signature", r.stdout)
			assert.matches("different token_secret", r.stdout)
			assert.matches("another JID than bob@example.test", r.stdout)
			assert.matches("cannot tell which", r.stdout)
			-- A forged token costs no step search.
			assert.matches("looked for only in a token whose signature verifies", r.stdout)
		end)

		it("says when the OTP matches no step within a day, for a right signature", function()
			local other = config_file("other-seed.cfg.lua", ("token_secret = %q\notp_seed = %q\n")
				:format(SECRET, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"))
			local r = check("alice@example.test", mint("alice@example.test", T, other), T)
			assert.equal(1, r.status)
			assert.matches("otp_mismatch", r.stdout)
			assert.matches("matches no time step within 24 h of", r.stdout)
		end)

		it("bounds the step search for a short token_otp_period", function()
			local fast = config_file("period-1.cfg.lua", ("token_secret = %q\notp_seed = %q\ntoken_otp_period = 1\n")
				:format(SECRET, SEED))
			local near = token_auth_cli({ "check", "--config", fast, "--jid", "alice@example.test", "--time", tostring(T),
				mint("alice@example.test", T + 600, fast) })
			assert.equal(1, near.status)
			assert.matches("600 steps %(600 s, about 10 min%) later", near.stdout)
			local far = token_auth_cli({ "check", "--config", fast, "--jid", "alice@example.test", "--time", tostring(T),
				mint("alice@example.test", T + 4 * 3600, fast) })
			assert.equal(1, far.status)
			assert.matches("matches no time step within 48 min", far.stdout)
		end)

		it("tells how far ahead the generator's clock is", function()
			local r = check("alice@example.test", mint("alice@example.test", T + 60), T)
			assert.equal(1, r.status)
			assert.matches("otp_mismatch", r.stdout)
			assert.matches("token's OTP is for 2 steps %(60 s%) later than", r.stdout)
			assert.matches("generator's clock ahead, or its timezone wrong", r.stdout)
		end)

		it("tells how long ago a token was minted, or how far behind the clock is", function()
			local r = check("alice@example.test", mint("alice@example.test", T - 90), T)
			assert.equal(1, r.status)
			assert.matches("3 steps %(90 s%) earlier than", r.stdout)
			assert.matches("behind", r.stdout)
		end)

		it("points at a timezone mistake when the clocks differ by whole hours", function()
			local r = check("alice@example.test", mint("alice@example.test", T + 7200), T)
			assert.equal(1, r.status)
			assert.matches("240 steps %(7200 s, about 2 h%) later", r.stdout)
			assert.matches("local time where UTC is needed", r.stdout)
		end)

		it("compares with this machine's clock by default", function()
			local r = token_auth_cli({ "check", "--config", basic_config, "--jid", "alice@example.test",
				mint("alice@example.test", "+120") })
			assert.equal(1, r.status)
			assert.matches("steps %(%d+ s.-%) later than this machine's clock", r.stdout)
		end)

		it("notes a skew that is still within the window", function()
			local r = check("alice@example.test", mint("alice@example.test", T + 30), T)
			assert.equal(0, r.status)
			assert.matches("1 step %(30 s%) later", r.stdout)
			assert.matches("within the accepted window", r.stdout)
		end)

		it("says which part of a malformed token is wrong", function()
			local token = mint("alice@example.test", T)
			local digits, signature = token:match("^(%d+) (.*)$")
			local urlsafe = signature:gsub("[+/]", { ["+"] = "-", ["/"] = "_" })
			if urlsafe == signature then urlsafe = "-" .. signature:sub(2) end
			local cases = {
				{ digits .. signature, "malformed", "has no space" },
				{ digits .. "  " .. signature, "malformed", "2 spaces" },
				{ "x" .. digits:sub(2) .. " " .. signature, "malformed", "only digits" },
				{ " " .. token, "malformed", "starts or ends with a space" },
				{ digits .. " " .. signature .. "\t", "[%a_]+", "tab or line break" },
				{ digits .. "\195\169 " .. signature, "[%a_]+", "non%-ASCII" },
				{ digits .. "1 " .. signature, "nonce_length", "41 long.*8 OTP digits %+ 32 nonce digits = 40" },
				{ digits .. " " .. signature:gsub("=$", ""), "bad_encoding", "lacks its '=' padding" },
				{ digits .. " " .. urlsafe, "bad_encoding", "URL%-safe base64" },
				{ digits .. " " .. signature:sub(1, 40), "bad_encoding", "decodes to 30 bytes" },
				{ digits .. " " .. signature:sub(1, 20) .. "*" .. signature:sub(22), "bad_encoding", "'%*'" },
			}
			for _, case in ipairs(cases) do
				local r = check("alice@example.test", case[1], T)
				assert.equal(1, r.status)
				assert.matches("NOT VALID %(" .. case[2] .. "%)", r.stdout)
				assert.matches(case[3], r.stdout)
				assert_no_traceback(r)
			end
		end)

		it("never prints the secret or the seed", function()
			local token = mint("alice@example.test", T)
			for _, jid in ipairs({ "alice@example.test", "bob@example.test" }) do
				local r = check(jid, token, T + 3600)
				assert.not_matches(SECRET, r.stdout .. r.stderr, 1, true)
				assert.not_matches(SEED, r.stdout .. r.stderr, 1, true)
			end
		end)

		it("refuses bad arguments with exit status 2", function()
			local token = mint("alice@example.test", T)
			for _, args in ipairs({
				{ "check", "--config", basic_config, token },
				{ "check", "--config", basic_config, "--jid", "alice@example.test", "a", "b", "c" },
				{ "check", "--config", basic_config, "--jid", "alice@example.test", "--time", "later", token },
			}) do
				local r = token_auth_cli(args)
				assert.equal(2, r.status)
				assert_no_traceback(r)
			end
			local empty = token_auth_cli({ "check", "--config", basic_config, "--jid", "alice@example.test" })
			assert.equal(2, empty.status)
			assert.matches("no token given", empty.stderr)
		end)
	end)

	describe("--help", function()
		it("documents every command and the exit codes", function()
			local main = token_auth_cli({ "--help" })
			assert.equal(0, main.status)
			assert.matches("Exit status", main.stdout)
			for _, command in ipairs({ "new-secret", "new-seed", "mint", "check", "extauth" }) do
				assert.matches(command, main.stdout, 1, true)
				local r = token_auth_cli({ command, "--help" })
				assert.equal(0, r.status)
				assert.matches("^Usage: token%-auth " .. command:gsub("%-", "%%-"), r.stdout)
				assert.matches("Exit status", r.stdout)
				assert.equal(r.stdout, token_auth_cli({ "help", command }).stdout)
			end
		end)
	end)

	it("finds the module in the checkout's build directory without LUA_CPATH", function()
		local r = token_auth_cli({ "new-seed" }, { cpath = false })
		assert.equal(0, r.status)
		assert.matches("^[A-Z2-7]+\n$", r.stdout)
	end)
end)
