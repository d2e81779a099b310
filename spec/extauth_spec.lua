-- `token-auth extauth`: both external-auth protocols driven over a pipe, with
-- the writes timed as a server would make them (split, concatenated, stalled).

local shell = require "spec.support.shell"

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "extauth-spec-secret-0123456789"
local B_SECRET = "extauth-spec-secret-for-b-host"

local shell_quote, read_file, write_file = shell.quote, shell.read_file, shell.write_file

local repo = shell.repo_root()
local lua, build = shell.interpreter()

local tmp_dir = shell.temp_dir("token-auth-extauth-spec")
local run_count = 0

-- Runs `token-auth extauth` with `args`, its standard input a FIFO fed by
-- `steps`: a string is written (and flushed), a number is a pause in seconds,
-- a function is called with the output so far (a string) and the run's
-- { pid = function returning the helper's PID, output = function (want)
-- waiting until the output is want }. Returns { status, stdout, stderr, seconds } once
-- the helper has exited. opts.redirect: shell redirections for standard error and
-- other descriptors (default: standard error to a file of its own).
local function serve(args, steps, opts)
	run_count = run_count + 1
	local dir = tmp_dir .. "/run" .. run_count
	assert(os.execute("mkdir " .. shell_quote(dir) .. " && mkfifo " .. shell_quote(dir .. "/in")))
	local words = { "sh", "-c", shell_quote('echo $$ >"$0"; exec "$@"'), shell_quote(dir .. "/pid"),
		"env", "-u", "LUA_CPATH_5_4", "LUA_CPATH=" .. shell_quote(repo .. "/build/" .. build .. "/?.so;;"),
		lua, shell_quote(repo .. "/bin/token-auth"), "extauth" }
	for _, a in ipairs(args) do words[#words + 1] = shell_quote(a) end
	local started = shell.now()
	local redirect = opts and opts.redirect or ("2>" .. shell_quote(dir .. "/err"))
	os.execute(("(%s <%s >%s %s; echo $? >%s) &"):format(table.concat(words, " "),
		shell_quote(dir .. "/in"), shell_quote(dir .. "/out"), redirect, shell_quote(dir .. "/rc")))
	local input = assert(io.open(dir .. "/in", "wb")) -- returns once the helper has opened its end
	local run = {}
	-- Waits until standard output is `want` (10 s at most); returns it.
	function run.output(want)
		local deadline = shell.now() + 10
		local out
		repeat
			out = read_file(dir .. "/out") or ""
			if out ~= want then shell.sleep(0.01) end
		until out == want or shell.now() > deadline
		return out
	end
	function run.pid() -- written by the shell just before it becomes the helper
		local deadline = shell.now() + 5
		repeat
			local pid = tonumber(read_file(dir .. "/pid") or "")
			if pid then return pid end
			shell.sleep(0.01)
		until shell.now() > deadline
		error("the helper's PID never appeared")
	end
	for _, step in ipairs(steps) do
		if type(step) == "string" then
			input:write(step)
			input:flush()
		elseif type(step) == "number" then
			shell.sleep(step)
		else
			step(read_file(dir .. "/out") or "", run)
		end
	end
	input:close()
	local deadline = shell.now() + 15
	local rc
	repeat
		rc = read_file(dir .. "/rc")
		if not rc or rc == "" then shell.sleep(0.02) end
	until (rc and rc ~= "") or shell.now() > deadline
	assert(rc and rc ~= "", "the helper did not exit after end of input")
	return {
		status = tonumber(rc:match("%d+")),
		stdout = read_file(dir .. "/out"),
		stderr = read_file(dir .. "/err"),
		seconds = shell.now() - started,
	}
end

local function frame(request)
	return string.char(math.floor(#request / 256), #request % 256) .. request
end

local YES, NO = "\0\2\0\1", "\0\2\0\0"

local function lines(text)
	local t = {}
	for line in text:gmatch("[^\n]+") do t[#t + 1] = line end
	return t
end

describe("token-auth extauth", function()
	local token_auth = require "token_auth"

	local config_path = tmp_dir .. "/token.cfg.lua"
	write_file(config_path, ([[
token_secret = %q
otp_seed = %q
VirtualHost "a.test"
VirtualHost "b.test"
	token_secret = %q
]]):format(SECRET, SEED, B_SECRET))

	local function mint(user, host, extra)
		local config = { otp_seed = SEED, token_secret = host == "b.test" and B_SECRET or SECRET }
		for k, v in pairs(extra or {}) do config[k] = v end
		return token_auth.generate_token(user, host, config)
	end

	local function generic(steps, extra_args, opts)
		local args = { "--config", config_path, "--timeout", "0.5" }
		for _, a in ipairs(extra_args or {}) do args[#args + 1] = a end
		return serve(args, steps, opts)
	end

	local function ejabberd(steps)
		return serve({ "--protocol", "ejabberd", "--config", config_path, "--timeout", "0.5" }, steps)
	end

	local function assert_no_token_in(text, ...)
		for _, token in ipairs({ ... }) do
			assert.not_matches(token, text, 1, true)
			assert.not_matches(token:match(" (.*)$"), text, 1, true)
			assert.not_matches(token:match("^(%d+)"), text, 1, true)
		end
	end

	teardown(function()
		os.execute("rm -rf " .. shell_quote(tmp_dir))
	end)

	describe("with the generic protocol", function()
		it("answers 1 for a valid token, then 0 for its replay", function()
			local token = mint("alice", "a.test")
			local r = generic({ "auth:alice:a.test:" .. token .. "\n", "auth:alice:a.test:" .. token .. "\n" })
			assert.equal(0, r.status)
			assert.equal("1\n0\n", r.stdout)
			assert.same({ "token-auth: extauth: auth for alice@a.test failed: replayed" }, lines(r.stderr))
			assert_no_token_in(r.stderr, token)
		end)

		it("serves a host that has JWT options only", function()
			local jwt_secret = "a JWT secret of thirty-two bytes, at least"
			local path = tmp_dir .. "/jwt-only.cfg.lua"
			write_file(path, ('VirtualHost "j.test"\n\ttoken_jwt_secret = %q\n'):format(jwt_secret))
			-- Signed by PyJWT (in .venv, from python/requirements-dev.txt).
			local pipe = assert(io.popen((".venv/bin/python -c %s %s %d"):format(shell_quote(
				"import jwt, sys; t = int(sys.argv[2]); "
				.. "print(jwt.encode({'sub': 'alice', 'iat': t, 'exp': t + 300}, sys.argv[1], algorithm='HS256'))"),
				shell_quote(jwt_secret), os.time())))
			local token = pipe:read("*l")
			pipe:close()
			assert.matches("^[%w_-]+%.[%w_-]+%.[%w_-]+$", token)
			local r = serve({ "--config", path, "--timeout", "0.5" },
				{ "auth:alice:j.test:" .. token .. "\n", "auth:alice:j.test:" .. token .. "\n" })
			assert.equal(0, r.status)
			assert.equal("1\n0\n", r.stdout)
			assert.same({ "token-auth: extauth: auth for alice@j.test failed: replayed" }, lines(r.stderr))
		end)

		it("verifies each host with its own options", function()
			local a, b = mint("alice", "a.test"), mint("alice", "b.test")
			local r = generic({ "auth:alice:b.test:" .. b .. "\n", "auth:alice:a.test:" .. a .. "\n",
				"auth:alice:b.test:" .. mint("alice", "b.test", { token_secret = SECRET }) .. "\n" })
			assert.equal("1\n1\n0\n", r.stdout)
			assert.matches("auth for alice@b.test failed: bad_signature", r.stderr)
		end)

		it("answers 0 for another user's token, an unknown host or an old token, and says why", function()
			local token = mint("alice", "a.test")
			local r = generic({
				"auth:bob:a.test:" .. token .. "\n",
				"auth:alice:elsewhere.test:" .. token .. "\n",
				"auth:alice:a.test:" .. mint("alice", "a.test", { time = os.time() - 3600 }) .. "\n",
			})
			assert.equal("0\n0\n0\n", r.stdout)
			assert.same({
				"token-auth: extauth: auth for bob@a.test failed: bad_signature",
				"token-auth: extauth: auth for alice@elsewhere.test failed: unknown_host",
				"token-auth: extauth: auth for alice@a.test failed: otp_mismatch",
			}, lines(r.stderr))
		end)

		it("splits at most three times: the password keeps its colons", function()
			local token = mint("alice", "a.test")
			local r = generic({ "auth:alice:a.test:" .. token .. ":x\n", "auth:alice:a.test:a:b:c\n",
				"auth:alice:a.test\n" })
			assert.equal("0\n0\n0\n", r.stdout)
			assert.same({
				"token-auth: extauth: auth for alice@a.test failed: bad_encoding",
				"token-auth: extauth: auth for alice@a.test failed: malformed",
				"token-auth: extauth: auth failed: bad_request (expected auth:USER:HOST:PASSWORD)",
			}, lines(r.stderr))
		end)

		it("nodepreps user names and namepreps hosts before it verifies", function()
			local user = "j\195\188rgen" -- jürgen, UTF-8
			local token = mint(user, "a.test")
			local other = mint("alice", "a.test")
			local r = generic({ "auth:" .. user .. ":a.test:" .. token .. "\n",
				"auth:j\195\156rgen:a.test:" .. token .. "\n", -- jÜrgen: the same account, the token was used
				"auth:ALICE:A.Test:" .. other .. "\n", "isuser:Bob:B.TEST\n",
				"auth:a b:a.test:" .. mint("x", "a.test") .. "\n", "isuser:a@b:a.test\n" })
			assert.equal("1\n0\n1\n1\n0\n0\n", r.stdout)
			assert.same({
				"token-auth: extauth: auth for j\\xc3\\xbcrgen@a.test failed: replayed",
				"token-auth: extauth: auth for a b@a.test failed: invalid_jid"
					.. " (the username is refused by nodeprep: it contains a prohibited character ` `)",
				"token-auth: extauth: isuser for a@b@a.test failed: invalid_jid"
					.. " (the username is refused by nodeprep: it contains a prohibited character `@`)",
			}, lines(r.stderr))
		end)

		it("keys its verifiers by the nameprepped VirtualHost name", function()
			local path = tmp_dir .. "/mixed.cfg.lua"
			write_file(path, ("otp_seed = %q\nVirtualHost \"Mixed.Test\"\n\ttoken_secret = %q\n"):format(SEED, B_SECRET))
			local token = token_auth.generate_token("alice", "mixed.test", { otp_seed = SEED, token_secret = B_SECRET })
			local r = serve({ "--config", path }, { "auth:alice:mixed.test:" .. token .. "\n", "isuser:bob:Mixed.Test\n" })
			assert.equal("1\n1\n", r.stdout)
			assert.equal("", r.stderr)
		end)

		it("answers isuser 1 for a served host, setpass and unknown commands 0", function()
			local r = generic({
				"isuser:alice:a.test\n", "isuser:alice:elsewhere.test\n", "isuser::a.test\n",
				"setpass:alice:a.test:newpass\n", "tryregister:alice:a.test:pw\n", "removeuser:alice:a.test\n",
				"frobnicate:alice:a.test\n", "\n", "no colon at all\n", "isuser:alice:b.test\r\n",
			})
			assert.equal("1\n0\n0\n0\n0\n0\n0\n0\n0\n1\n", r.stdout)
			assert.matches("setpass failed: not_supported", r.stderr)
			assert.matches("unknown_command %(command frobnicate%)", r.stderr)
			assert.not_matches("newpass", r.stderr)
			assert.equal(8, #lines(r.stderr))
		end)

		it("answers requests split across writes and many in one write", function()
			local t1, t2, t3 = mint("u1", "a.test"), mint("u2", "a.test"), mint("u3", "a.test")
			local request = "auth:u1:a.test:" .. t1 .. "\n"
			local r = generic({
				request:sub(1, 10), 0.1, request:sub(11, 50), 0.1, request:sub(51),
				"auth:u2:a.test:" .. t2 .. "\nauth:u3:a.test:" .. t3 .. "\nisuser:u3:a.test\n",
			})
			assert.equal("1\n1\n1\n1\n", r.stdout)
			assert.equal("", r.stderr)
		end)

		it("exits without an answer when a line stays incomplete past the timeout", function()
			local seen
			local r = generic({ "isuser:alice:a.test\n", "auth:alice:a.te", 1.5, function(output) seen = output end })
			assert.equal("1\n", seen) -- no answer for the stalled request, while the input is still open
			assert.equal(5, r.status)
			assert.equal("1\n", r.stdout)
			assert.matches("out of step; exiting", r.stderr)
		end)

		it("answers an oversized line once, even a line of megabytes, and the next line its own answer", function()
			local token = mint("alice", "a.test")
			local big = ("9"):rep(3 * 1024 * 1024)
			local r = generic({ "auth:alice:a.test:" .. ("9"):rep(10000) .. "\n", "isuser:alice:a.test\n",
				"auth:bob:a.test:" .. big:sub(1, 100000), 0.1, big, "\n", "auth:alice:a.test:" .. token .. "\n" })
			assert.equal("0\n1\n0\n1\n", r.stdout)
			assert.same({ "token-auth: extauth: request failed: request_too_long",
				"token-auth: extauth: request failed: request_too_long" }, lines(r.stderr))
			assert.is_true(r.seconds < 5)
		end)

		it("exits with status 0 at end of input, answering an unterminated last line", function()
			local empty = generic({})
			assert.equal(0, empty.status)
			assert.equal("", empty.stdout)
			local r = generic({ "isuser:alice:a.test\n", "isuser:alice:a.test" })
			assert.equal(0, r.status)
			assert.equal("1\n1\n", r.stdout)
		end)
	end)

	describe("with the ejabberd protocol", function()
		it("answers 1 for a valid token, then 0 for its replay", function()
			local token = mint("alice", "a.test")
			local request = frame("auth:alice:a.test:" .. token)
			local r = ejabberd({ request, request })
			assert.equal(0, r.status)
			assert.equal(YES .. NO, r.stdout)
			assert.same({ "token-auth: extauth: auth for alice@a.test failed: replayed" }, lines(r.stderr))
			assert_no_token_in(r.stderr, token)
		end)

		it("counts the length in bytes, not characters", function()
			local user = "\229\188\160\228\188\159" -- 张伟, 6 bytes in UTF-8
			local request = "auth:" .. user .. ":a.test:" .. mint(user, "a.test")
			local r = ejabberd({ frame(request), frame("isuser:" .. user .. ":a.test") })
			assert.equal(YES .. YES, r.stdout)
		end)

		it("answers frames split anywhere, even inside the length, and frames sent together", function()
			local t1, t2, t3 = mint("u1", "a.test"), mint("u2", "a.test"), mint("u3", "a.test")
			local f1 = frame("auth:u1:a.test:" .. t1)
			local r = ejabberd({
				f1:sub(1, 1), 0.1, f1:sub(2, 2), 0.1, f1:sub(3, 30), 0.1, f1:sub(31),
				frame("auth:u2:a.test:" .. t2) .. frame("auth:u3:a.test:" .. t3) .. frame("isuser:u3:a.test"),
			})
			assert.equal(YES .. YES .. YES .. YES, r.stdout)
			assert.equal("", r.stderr)
		end)

		it("answers 0 to setpass, unknown commands, empty and binary frames", function()
			local r = ejabberd({
				frame("setpass:alice:a.test:pw"), frame("tryregister:alice:a.test:pw"), frame("certauth:alice:a.test:x"),
				frame(""), frame("\0\1\2\255\254:\0:\0"), frame("auth:alice:a.test:12345 \0"),
				frame("isuser:alice:a.test"),
			})
			assert.equal(NO:rep(6) .. YES, r.stdout)
			assert.equal(6, #lines(r.stderr))
			assert.matches("empty_request", r.stderr)
		end)

		it("refuses an oversized frame and stays in step", function()
			local r = ejabberd({ frame("auth:alice:a.test:" .. ("x"):rep(20000)), frame("isuser:alice:a.test") })
			assert.equal(NO .. YES, r.stdout)
			assert.same({ "token-auth: extauth: request failed: request_too_long" }, lines(r.stderr))
		end)

		it("exits without an answer when a writer stops mid-frame past the timeout", function()
			local seen
			local token = mint("alice", "a.test")
			local r = ejabberd({ frame("isuser:alice:a.test"), frame("auth:alice:a.test:" .. token):sub(1, 30), 1.5,
				function(output) seen = output end })
			assert.equal(YES, seen) -- the stalled frame got no answer: none can go to the next request
			assert.equal(5, r.status)
			assert.equal(YES, r.stdout)
			assert.matches("a request stayed incomplete for 0.5 s with no new bytes: the stream is out of step", r.stderr)
		end)

		it("exits without an answer when the input ends inside a frame", function()
			for _, cut in ipairs({ "\0", "\0\50", "\0\50auth:alice" }) do
				local r = ejabberd({ frame("isuser:alice:a.test"), cut })
				assert.equal(5, r.status)
				assert.equal(YES, r.stdout)
				assert.matches("the input ended inside a frame", r.stderr)
				assert.is_true(r.seconds < 3) -- did not wait for anything after EOF
			end
		end)

		it("never times out a frame that arrived while it was stopped (SIGSTOP)", function()
			local t1, t2, t3, t4 = mint("u1", "a.test"), mint("u2", "a.test"), mint("u3", "a.test"), mint("u4", "a.test")
			local f1, f2, f3 = frame("auth:u1:a.test:" .. t1), frame("auth:u2:a.test:" .. t2), frame("auth:u3:a.test:" .. t3)
			local r = ejabberd({
				-- Stopped between frames: the whole frame arrives meanwhile.
				function(_, run) assert(os.execute("kill -STOP " .. run.pid())) end, f1, 1.5,
				function(_, run) assert(os.execute("kill -CONT " .. run.pid())) end, 0.2,
				-- Stopped mid-frame, waiting for the rest with a 0.5 s timeout.
				f2:sub(1, 20), 0.1, function(_, run) assert(os.execute("kill -STOP " .. run.pid())) end, f2:sub(21), 1.5,
				function(_, run) assert(os.execute("kill -CONT " .. run.pid())) end, 0.2,
				-- Stopped mid-frame past the timeout, and the rest comes in two
				-- writes, the last after it resumed: the stop is not the peer's stall.
				f3:sub(1, 20), 0.1, function(_, run) assert(os.execute("kill -STOP " .. run.pid())) end, f3:sub(21, 60),
				1.5, function(_, run) assert(os.execute("kill -CONT " .. run.pid())) end, 0.05, f3:sub(61),
				frame("auth:u4:a.test:" .. t4), frame("auth:u1:a.test:" .. t1),
			})
			assert.equal(0, r.status)
			assert.equal(YES .. YES .. YES .. YES .. NO, r.stdout)
			assert.same({ "token-auth: extauth: auth for u1@a.test failed: replayed" }, lines(r.stderr))
		end)
	end)

	describe("under a mixed stream", function()
		-- Requests whose answers all differ from their neighbours': valid
		-- tokens for distinct users, tokens for other users, unknown hosts,
		-- isuser, oversized requests; every answer is checked against its
		-- request, over writes cut at random places with short pauses.
		local function workload(n, seed_value)
			math.randomseed(seed_value)
			local requests, expected = {}, {}
			for i = 1, n do
				local kind = math.random(6)
				local user = "user" .. i
				if kind == 1 or kind == 2 then
					requests[i], expected[i] = "auth:" .. user .. ":a.test:" .. mint(user, "a.test"), true
				elseif kind == 3 then
					requests[i], expected[i] = "auth:" .. user .. ":a.test:" .. mint("other" .. i, "a.test"), false
				elseif kind == 4 then
					requests[i], expected[i] = "isuser:" .. user .. (i % 2 == 0 and ":b.test" or ":nowhere.test"), i % 2 == 0
				elseif kind == 5 then
					requests[i], expected[i] = "auth:" .. user .. ":a.test:" .. ("7"):rep(5000 + i), false
				else
					requests[i], expected[i] = "auth:" .. user .. ":B.Test:" .. mint(user, "b.test"), true
				end
			end
			return requests, expected
		end

		local function cut(stream)
			local steps, pos = {}, 1
			while pos <= #stream do
				local size = math.random(1, 3000)
				steps[#steps + 1] = stream:sub(pos, pos + size - 1)
				if math.random(20) == 1 then steps[#steps + 1] = 0.05 end
				pos = pos + size
			end
			return steps
		end

		it("gives every line its own answer (generic)", function()
			local requests, expected = workload(300, 11)
			local r = generic(cut(table.concat(requests, "\n") .. "\n"))
			assert.equal(0, r.status)
			local got = lines(r.stdout)
			assert.equal(#requests, #got)
			for i, want in ipairs(expected) do
				assert.equal(want and "1" or "0", got[i], "answer " .. i .. " to " .. requests[i]:sub(1, 40))
			end
		end)

		it("gives every frame its own answer (ejabberd)", function()
			local requests, expected = workload(300, 12)
			local frames = {}
			for i, request in ipairs(requests) do frames[i] = frame(request) end
			local r = ejabberd(cut(table.concat(frames)))
			assert.equal(0, r.status)
			assert.equal(#requests * 4, #r.stdout)
			for i, want in ipairs(expected) do
				assert.equal(want and YES or NO, r.stdout:sub(4 * i - 3, 4 * i), "answer " .. i .. " to "
					.. requests[i]:sub(1, 40))
			end
		end)
	end)

	describe("where diagnostics go", function()
		local junk = ("auth:eve:a.test:junk\n"):rep(200)

		it("never on standard output, even when standard error is the same pipe", function()
			local token = mint("alice", "a.test")
			local r = generic({ "auth:alice:a.test:" .. token .. "\nauth:alice:a.test:" .. token .. "\n" .. junk,
				"bogus\n" }, {}, { redirect = "2>&1" })
			assert.equal(0, r.status)
			assert.equal("1\n" .. ("0\n"):rep(202), r.stdout)
		end)

		it("to --log FILE, timestamped, never the token", function()
			local log = tmp_dir .. "/extauth.log"
			local token = mint("alice", "a.test")
			local r = generic({ "auth:alice:a.test:" .. token .. "\nauth:alice:a.test:" .. token .. "\n" }, { "--log", log })
			assert.equal("1\n0\n", r.stdout)
			assert.equal("", r.stderr)
			local logged = lines(read_file(log))
			assert.equal(1, #logged)
			assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ token%-auth: extauth: auth for alice@a.test failed: replayed$",
				logged[1])
			assert_no_token_in(read_file(log), token)
		end)

		it("refusals at most 60 at once, the rest counted", function()
			local r = generic({ junk })
			assert.equal(("0\n"):rep(200), r.stdout)
			local logged, counted = 0, 0
			for _, line in ipairs(lines(r.stderr)) do
				if line == "token-auth: extauth: auth for eve@a.test failed: malformed" then
					logged = logged + 1
				else
					local n = line:match("^token%-auth: extauth: (%d+) refusals not logged %(more than 60 at once or 1 a second%)$")
					assert.truthy(n, line)
					counted = counted + tonumber(n)
				end
			end
			assert.is_true(logged >= 60 and logged <= 65, "logged " .. logged)
			assert.equal(200, logged + counted)
		end)

		it("refuses --log with --syslog, and --syslog with a value, with status 2", function()
			for _, args in ipairs({ { "--log", tmp_dir .. "/x.log", "--syslog" }, { "--syslog=yes" } }) do
				local r = generic({}, args)
				assert.equal(2, r.status)
				assert.equal("", r.stdout)
			end
		end)

		it("exits with status 3 when the --log file cannot be opened", function()
			local r = generic({ "isuser:a:a.test\n" }, { "--log", tmp_dir .. "/no/such/dir/x.log" })
			assert.equal(3, r.status)
			assert.equal("", r.stdout)
			assert.matches("cannot open the --log file", r.stderr, 1, true)
		end)
	end)

	describe("as a process", function()
		it("closes the descriptors it inherited beyond standard error", function()
			local fds
			local r = generic({ "isuser:a:a.test\n", function (_, run)
				-- Answered: the helper is past its start-up.
				assert.equal("1\n", run.output("1\n"))
				local listing = shell.capture("ls /proc/" .. run.pid() .. "/fd")
				fds = {}
				for fd in listing:gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
				table.sort(fds)
			end }, {}, { redirect = "2>" .. shell_quote(tmp_dir .. "/err-fds") .. " 3<" .. shell_quote(config_path)
				.. " 7>>" .. shell_quote(tmp_dir .. "/held") })
			assert.equal("1\n", r.stdout)
			assert.same({ 0, 1, 2 }, fds)
		end)

		it("exits with status 0 on SIGTERM, and on SIGHUP", function()
			for _, signal in ipairs({ "TERM", "HUP" }) do
				local err = tmp_dir .. "/err-" .. signal
				local r = generic({ "isuser:a:a.test\n", function (_, run)
					assert.equal("1\n", run.output("1\n")) -- its handlers are in place
					os.execute("kill -" .. signal .. " " .. run.pid())
				end, 0.5 }, {}, { redirect = "2>" .. shell_quote(err) })
				assert.equal(0, r.status, signal)
				assert.equal("1\n", r.stdout)
				assert.matches("stopped by a signal: exiting", read_file(err), 1, true)
			end
		end)
	end)

	describe("on a bad start", function()
		it("refuses a bad protocol or timeout with status 2", function()
			for _, args in ipairs({
				{ "--protocol", "xml", "--config", config_path },
				{ "--timeout", "soon", "--config", config_path },
				{ "--timeout", "-1", "--config", config_path },
				{ "--config", config_path, "extra" },
			}) do
				local r = serve(args, {})
				assert.equal(2, r.status)
				assert.equal("", r.stdout)
			end
		end)

		it("refuses a configuration without usable hosts with status 3", function()
			local path = tmp_dir .. "/no-token.cfg.lua"
			write_file(path, 'VirtualHost "a.test"\n\tmodules_enabled = { "roster" }\n')
			local r = serve({ "--config", path }, { "isuser:a:a.test\n" })
			assert.equal(3, r.status)
			assert.equal("", r.stdout)
			assert.matches("no host", r.stderr)
		end)

		it("refuses a config that Includes its standard input (the request pipe), with status 3", function()
			local path = tmp_dir .. "/stdin.cfg.lua"
			write_file(path, ("token_secret = %q\notp_seed = %q\nInclude \"/dev/stdin\"\n"):format(SECRET, SEED))
			local r = serve({ "--config", path }, { "isuser:alice:a.test\n" })
			assert.equal(3, r.status)
			assert.equal("", r.stdout)
			assert.matches("/dev/stdin: not a regular file", r.stderr, 1, true)
		end)

		it("does not serve a disabled VirtualHost", function()
			local path = tmp_dir .. "/disabled.cfg.lua"
			write_file(path, ("token_secret = %q\notp_seed = %q\nVirtualHost \"a.test\"\nVirtualHost \"off.test\"\n"
				.. "\tenabled = false\n"):format(SECRET, SEED))
			local r = serve({ "--config", path }, { "auth:alice:off.test:" .. mint("alice", "off.test") .. "\n" })
			assert.equal("0\n", r.stdout)
			assert.same({
				"token-auth: extauth: host off.test is disabled (enabled = false): not served",
				"token-auth: extauth: auth for alice@off.test failed: unknown_host",
			}, lines(r.stderr))
		end)

		it("serves every host with the global options when the config has no VirtualHost", function()
			local path = tmp_dir .. "/global.cfg.lua"
			write_file(path, ("token_secret = %q\notp_seed = %q\n"):format(SECRET, SEED))
			local r = serve({ "--config", path }, { "auth:alice:any.test:" .. mint("alice", "any.test") .. "\n" })
			assert.equal(0, r.status)
			assert.equal("1\n", r.stdout)
		end)
	end)
end)
