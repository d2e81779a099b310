-- The replay store shared through Redis, against a real redis-server started
-- here on a free 127.0.0.1 port: the Lua API (new_verifier{ replay_store = ... }),
-- what lands in Redis, outages and recovery, and two `token-auth extauth`
-- helpers sharing one store.

local shell = require "spec.support.shell"
local redis = require "spec.support.redis"

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "redis-spec-secret-0123456789"

describe("the Redis replay store #redis", function()
	local token_auth = require "token_auth"
	local server
	local nonce_counter = 0

	local function mint(user, time, config)
		nonce_counter = nonce_counter + 1
		local c = { otp_seed = SEED, token_secret = SECRET, time = time,
			nonce = ("%032d"):format(nonce_counter + math.random(1, 1e9) * 1000) }
		for k, v in pairs(config or {}) do c[k] = v end
		return token_auth.generate_token(user, "example.com", c)
	end

	local function verifier(extra)
		local config = { otp_seed = SEED, token_secret = SECRET, replay_store = server.url }
		for k, v in pairs(extra or {}) do config[k] = v end
		return assert(token_auth.new_verifier(config))
	end

	setup(function()
		server = assert(redis.start())
	end)

	teardown(function()
		if server then server:stop() end
	end)

	before_each(function()
		-- Verifiers with the same store settings share one store in the
		-- process: let the earlier tests' verifiers go, and their store.
		collectgarbage()
		collectgarbage()
		if server.stopped then
			server = assert(redis.start({ port = server.port }))
		end
		server:cli("FLUSHALL")
	end)

	it("accepts a token once across verifiers that share it", function()
		local a, b = verifier(), verifier()
		local token = mint("alice")
		assert.same({ true, nil }, { a:verify("alice", "example.com", token) })
		assert.same({ nil, "replayed" }, { b:verify("alice", "example.com", token) })
		assert.same({ nil, "replayed" }, { a:verify("alice", "example.com", token) })
		local other = mint("alice")
		assert.same({ true, nil }, { b:verify("alice", "example.com", other) })
		assert.same({ nil, "replayed" }, { a:verify("alice", "example.com", other) })
		assert.equal("redis", a:stats().replay_store)
		assert.is_true(a:stats().replay_store_available)
		assert.equal("token_auth verifier (replay store: redis)", tostring(a))
		assert.same({ true, nil }, { a:ping_store() })
		local local_only = assert(token_auth.new_verifier({ otp_seed = SEED, token_secret = SECRET }))
		local ok, err = pcall(local_only.ping_store, local_only)
		assert.is_false(ok)
		assert.matches("token_auth.ping_store: this verifier has no replay_store", tostring(err), 1, true)
	end)

	it("writes one host-scoped key per token, holding nothing of it, for its remaining lifetime", function()
		local v = verifier()
		local now = os.time()
		local token = mint("alice", now)
		assert.is_true(v:verify("alice", "example.com", token, now))
		local keys = server:token_keys()
		assert.equal(1, #keys)
		keys = keys[1]
		assert.matches("^token_auth:example%.com:%x+$", keys)
		assert.equal(#"token_auth:example.com:" + 32, #keys)
		assert.not_matches(token:match("^(%d+)"):sub(9, 20), keys, 1, true)
		assert.not_matches(token:match(" (.*)$"):sub(1, 12), keys, 1, true)
		assert.equal("1", server:cli("GET", keys))
		-- Accepted in step s, it lives until no step in reach then is in
		-- reach: the start of step s + 3 (window 1, 30 s steps).
		local want = ((math.floor(now / 30) + 3) * 30 - now) * 1000
		local pttl = tonumber(server:cli("PTTL", keys))
		assert.is_true(pttl <= want and pttl > want - 5000, "PTTL " .. pttl .. ", want about " .. want)
	end)

	it("refuses a colliding OTP step until the token is out of reach (6 digits, the issue's case)", function()
		-- Steps 61797158 and 61797159 of this seed share a 6-digit code.
		local config = { otp_seed = "XVGR73KMZH2M4XMYXVGR73KMZH2M4XMY", digits = 6 }
		local s = 61797158
		assert.equal(token_auth.totp(config.otp_seed, { digits = 6, time = s * 30 }),
			token_auth.totp(config.otp_seed, { digits = 6, time = (s + 1) * 30 }))
		local token = mint("alice", s * 30, config)
		local v = verifier(config)
		assert.same({ true, nil }, { v:verify("alice", "example.com", token, s * 30 + 5) })
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", token, (s + 1) * 30 + 5) })
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", token, (s + 2) * 30 + 5) })
		assert.same({ nil, "otp_mismatch" }, { v:verify("alice", "example.com", token, (s + 3) * 30 + 5) })
		-- The key lives (s + 3) * 30 - (s * 30 + 5) = 85 s.
		local pttl = tonumber(server:cli("PTTL", server:token_keys()[1]))
		assert.is_true(pttl > 80000 and pttl <= 85000, "PTTL " .. pttl)
	end)

	it("keeps its keys in the database the URL names", function()
		local v = verifier({ replay_store = server.url .. "/3" })
		assert.is_true(v:verify("alice", "example.com", mint("alice")))
		assert.equal("0", server:cli("DBSIZE"))
		assert.equal(1, #server:token_keys(3))
	end)

	it("refuses with replay_store_unavailable while Redis is down, and recovers without a new verifier", function()
		local v = verifier()
		assert.is_true(v:verify("alice", "example.com", mint("alice")))
		server:stop()
		local started = shell.now()
		assert.same({ nil, "replay_store_unavailable" }, { v:verify("alice", "example.com", mint("alice")) })
		assert.same({ nil, "replay_store_unavailable" }, { v:verify("alice", "example.com", mint("alice")) })
		assert.is_true(shell.now() - started < 0.2, "refusals must not wait")
		-- Bad tokens are still refused for what they are.
		assert.same({ nil, "bad_signature" }, { v:verify("bob", "example.com", mint("alice")) })
		local stats = v:stats()
		assert.is_false(stats.replay_store_available)
		assert.equal(1, stats.replay_store_outages)
		assert.equal(2, stats.replay_store_refusals)
		assert.equal("connection refused", stats.replay_store_error)

		server = assert(redis.start({ port = server.port }))
		local deadline = shell.now() + 3
		local ok, reason
		repeat
			ok, reason = v:verify("alice", "example.com", mint("alice"))
			if not ok then shell.sleep(0.05) end
		until ok or shell.now() > deadline
		assert.same({ true, nil }, { ok, reason })
		assert.is_true(v:stats().replay_store_available)
		assert.equal(1, v:stats().replay_store_outages)
	end)

	it("gives up on a Redis that hangs within its reply timeout, and comes back when it answers", function()
		local v = verifier({ replay_store_timeout = 30, replay_store_connect_timeout = 40 })
		assert.is_true(v:verify("alice", "example.com", mint("alice")))
		server:pause()
		local function timed()
			local started = shell.now()
			local result = { v:verify("alice", "example.com", mint("alice")) }
			return result, shell.now() - started
		end
		-- The reply times out; the next token tries a new connection, whose
		-- handshake times out; from then on refusals do not wait at all.
		local first, waited = timed()
		local second, waited_second = timed()
		local third, waited_third = timed()
		server:resume()
		for _, result in ipairs({ first, second, third }) do
			assert.same({ nil, "replay_store_unavailable" }, result)
		end
		assert.is_true(waited >= 0.025 and waited < 0.25, "waited " .. waited .. " s")
		assert.is_true(waited_second >= 0.03 and waited_second < 0.25, "waited " .. waited_second .. " s")
		-- (Below the 30 ms it would take to time out again, with room for a busy machine.)
		assert.is_true(waited_third < 0.025, "waited " .. waited_third .. " s")
		assert.equal("timed out", v:stats().replay_store_error)
		assert.equal(1, v:stats().replay_store_outages)
		local ok
		local deadline = shell.now() + 3
		repeat
			ok = v:verify("alice", "example.com", mint("alice"))
			if not ok then shell.sleep(0.05) end
		until ok or shell.now() > deadline
		assert.is_true(ok)
	end)

	describe("without waiting (begin_verify, collect, store_socket)", function()
		-- What Prosody's event loop does: collect whenever asked, until the
		-- ticket's verdict is in or `seconds` pass.
		local function verdict_of(v, ticket, seconds)
			local deadline = shell.now() + (seconds or 2)
			repeat
				local results = v:collect()
				if results[ticket] ~= nil then
					return results[ticket]
				end
				shell.sleep(0.002)
			until shell.now() > deadline
		end

		it("gives the verdict later, under a ticket, and nothing is waiting once it is in", function()
			local v = verifier()
			local token = mint("alice")
			assert.same({ nil, nil, nil }, { v:store_socket() }) -- not connected before the first claim
			local ok, ticket, begun_fd, begun_due, begun_serial, begun_writable = v:begin_verify("alice", "example.com", token)
			assert.is_false(ok)
			assert.is_number(ticket)
			local fd, due, serial, writable = v:store_socket()
			assert.is_number(fd)
			-- begin_verify says what store_socket says (saving Prosody a call).
			assert.same({ fd, serial, writable }, { begun_fd, begun_serial, begun_writable })
			assert.is_true(begun_due >= due and begun_due <= 0.07, tostring(begun_due))
			-- The connect (50 ms) and the reply (20 ms) timeouts: the claim went
			-- out behind a connect that had not completed yet.
			assert.is_true(due > 0 and due <= 0.07, tostring(due))
			assert.equal(1, serial)
			assert.is_true(verdict_of(v, ticket))
			assert.is_nil((select(2, v:store_socket())))
			-- collect says it too, once its verdicts are taken: nothing due.
			local collected, collected_fd, collected_due = v:collect()
			assert.same({}, collected)
			assert.same({ fd, nil }, { collected_fd, collected_due })
			local again, replay_ticket = v:begin_verify("alice", "example.com", token)
			assert.is_false(again)
			assert.are_not.equal(ticket, replay_ticket)
			assert.equal("replayed", verdict_of(v, replay_ticket))
			-- What fails before the store does not wait for it.
			local forged = mint("alice", nil, { token_secret = "another-secret-0123456789" })
			assert.same({ nil, "bad_signature" }, { v:begin_verify("alice", "example.com", forged) })
			assert.same({}, v:collect())
		end)

		it("hands a login begun with its resume back with the verdict, from any verifier of the store", function()
			local a, b = verifier(), verifier()
			local token = mint("alice")
			local function resume_alice() end
			local ok, ticket = a:begin_verify("alice", "example.com", token, nil, resume_alice)
			assert.is_false(ok)
			assert.is_number(ticket)
			-- b shares a's store: it hands out a's verdict, under the resume.
			local deadline, results = shell.now() + 2, {}
			repeat
				for key, verdict in pairs(b:collect()) do results[key] = verdict end
				shell.sleep(0.002)
			until results[resume_alice] ~= nil or shell.now() > deadline
			assert.same({ [resume_alice] = true }, results)
			assert.is_nil((select(2, a:store_socket())), "nothing waits once it is handed out")
			assert.same({}, a:abandon("example.com"))
		end)

		it("refuses the logins of a host that abandons the store, and only those", function()
			local v = verifier()
			local other = token_auth.generate_token("carol", "other.example",
				{ otp_seed = SEED, token_secret = SECRET, nonce = ("%032d"):format(math.random(1, 1e9)) })
			local function resume_bob() end
			local function resume_carol() end
			server:pause()
			assert.is_false((v:begin_verify("bob", "example.com", mint("bob"), nil, resume_bob)))
			assert.is_false((v:begin_verify("carol", "other.example", other, nil, resume_carol)))
			assert.same({ [resume_bob] = "replay_store_unavailable" }, v:abandon("example.com"))
			assert.same({}, v:abandon("example.com"))
			server:resume()
			-- carol still waits; bob's verdict, when it comes, has no resume
			-- left to go to: it comes under its ticket.
			local deadline, results = shell.now() + 2, {}
			repeat
				for key, verdict in pairs(v:collect()) do results[key] = verdict end
				shell.sleep(0.002)
			until results[resume_carol] ~= nil or shell.now() > deadline
			assert.is_true(results[resume_carol])
			local keys = {}
			for key in pairs(results) do keys[#keys + 1] = type(key) end
			table.sort(keys)
			assert.same({ "function", "number" }, keys)
		end)

		it("answers at once with the in-process cache", function()
			local v = assert(token_auth.new_verifier({ otp_seed = SEED, token_secret = SECRET }))
			local token = mint("alice")
			assert.same({ true, nil }, { v:begin_verify("alice", "example.com", token) })
			assert.same({ nil, "replayed" }, { v:begin_verify("alice", "example.com", token) })
			assert.same({ nil, nil, nil }, { v:store_socket() })
			assert.same({}, v:collect())
		end)

		it("keeps claims in flight apart from a verification that waits on the same connection", function()
			local v = verifier()
			local first, second, third = mint("alice"), mint("bob"), mint("carol")
			local _, ticket_a = v:begin_verify("alice", "example.com", first)
			local _, ticket_b = v:begin_verify("bob", "example.com", second)
			-- The waiting call reads the two replies owed to the tickets first.
			assert.same({ true, nil }, { v:verify("carol", "example.com", third) })
			assert.same({ [ticket_a] = true, [ticket_b] = true }, v:collect())
			assert.same({ nil, "replayed" }, { v:verify("bob", "example.com", second) })
			assert.equal(3, #server:token_keys())
		end)

		it("refuses a claim that Redis leaves unanswered past its timeout, and recovers", function()
			local v = verifier({ replay_store_timeout = 50 })
			assert.is_true(verdict_of(v, select(2, v:begin_verify("alice", "example.com", mint("alice")))))
			server:pause()
			local started = shell.now()
			local ok, ticket = v:begin_verify("alice", "example.com", mint("alice"))
			assert.is_false(ok)
			assert.same({}, v:collect()) -- not due yet: nothing to say
			local result = verdict_of(v, ticket, 2)
			local waited = shell.now() - started
			server:resume()
			assert.equal("replay_store_unavailable", result)
			assert.is_true(waited >= 0.05 and waited < 1, "waited " .. waited .. " s")
			assert.equal("timed out", v:stats().replay_store_error)
			assert.equal(1, v:stats().replay_store_outages)
			assert.is_nil((v:store_socket())) -- the connection went with the timeout
			local later = select(2, v:begin_verify("alice", "example.com", mint("alice")))
			assert.is_true(verdict_of(v, later))
			assert.equal(2, select(3, v:store_socket())) -- a new connection
			assert.is_true(v:stats().replay_store_available)
		end)

		it("sends its claims again on a new connection when Redis restarted since the last one", function()
			local v = verifier()
			assert.is_true(verdict_of(v, select(2, v:begin_verify("alice", "example.com", mint("alice")))))
			server:stop()
			server = assert(redis.start({ port = server.port }))
			-- The old connection is closed by now; the write to it still
			-- succeeds, the end of the stream comes instead of the reply.
			local token = mint("bob")
			local ok, ticket = v:begin_verify("bob", "example.com", token)
			assert.is_false(ok)
			assert.is_true(verdict_of(v, ticket))
			assert.equal(0, v:stats().replay_store_outages)
			assert.same({ nil, "replayed" }, { v:verify("bob", "example.com", token) })
		end)

		it("refuses the claims in flight when Redis goes away under them", function()
			local v = verifier()
			assert.is_true(verdict_of(v, select(2, v:begin_verify("alice", "example.com", mint("alice")))))
			server:pause()
			local _, one = v:begin_verify("bob", "example.com", mint("bob"))
			local _, two = v:begin_verify("carol", "example.com", mint("carol"))
			os.execute("kill -KILL " .. server.pid) -- stopped, it never reads them
			server:stop()
			local results = {}
			local deadline = shell.now() + 2
			repeat
				for ticket, result in pairs(v:collect()) do results[ticket] = result end
				shell.sleep(0.002)
			until (results[one] and results[two]) or shell.now() > deadline
			assert.same({ [one] = "replay_store_unavailable", [two] = "replay_store_unavailable" }, results)
			assert.equal(2, v:stats().replay_store_refusals)
		end)
	end)

	it("bounds the live tokens of one user in Redis, atomically with the claim, for every verifier", function()
		local a, b = verifier({ replay_per_user = 2 }), verifier({ replay_per_user = 2 })
		assert.same({ true, nil }, { a:verify("alice", "example.com", mint("alice")) })
		assert.same({ true, nil }, { b:verify("alice", "example.com", mint("alice")) })
		-- A third live token of alice's is refused, wherever it comes.
		assert.same({ nil, "replay_user_full" }, { a:verify("alice", "example.com", mint("alice")) })
		local _, ticket = b:begin_verify("alice", "example.com", mint("alice"))
		local deadline = shell.now() + 2
		local result
		repeat
			result = b:collect()[ticket]
			shell.sleep(0.002)
		until result ~= nil or shell.now() > deadline
		assert.equal("replay_user_full", result)
		-- Others are not touched; a replay is still a replay.
		local token = mint("bob")
		assert.same({ true, nil }, { a:verify("bob", "example.com", token) })
		assert.same({ nil, "replayed" }, { a:verify("bob", "example.com", token) })
		assert.equal(3, #server:token_keys())
		-- The user's set holds alice's two live tokens, until the last expires.
		local sets = {}
		for key in server:cli("KEYS", "token_auth:example.com:user:*"):gmatch("[^\n]+") do sets[#sets + 1] = key end
		assert.equal(2, #sets)
		local counts = { tonumber(server:cli("ZCARD", sets[1])), tonumber(server:cli("ZCARD", sets[2])) }
		table.sort(counts)
		assert.same({ 1, 2 }, counts)
		assert.is_true(tonumber(server:cli("PTTL", sets[1])) > 0)
		-- Alice's tokens die (their keys go, and their expiry in the set is
		-- made long past): then she may log in again.
		for _, set in ipairs(sets) do
			for member in server:cli("ZRANGE", set, "0", "-1"):gmatch("[^\n]+") do
				server:cli("DEL", member)
				server:cli("ZADD", set, "1", member)
			end
		end
		assert.same({ true, nil }, { a:verify("alice", "example.com", mint("alice")) })
	end)

	it("speaks to a Redis with a password, and says so when the password is wrong", function()
		local secured = assert(redis.start({ password = "s3cret-pass" }))
		local ok, err = pcall(function()
			local v = verifier({ replay_store = secured.url })
			assert.is_true(v:verify("alice", "example.com", mint("alice")))
			assert.equal(1, #secured:token_keys())
			local wrong = verifier({ replay_store = ("redis://:wrong@127.0.0.1:%d"):format(secured.port) })
			assert.same({ nil, "replay_store_unavailable" }, { wrong:verify("alice", "example.com", mint("alice")) })
			local problem = wrong:stats().replay_store_error
			assert.equal("authentication failed", problem)
			assert.not_matches("wrong", problem)
		end)
		secured:stop()
		assert(ok, err)
	end)

	it("speaks to a Redis over a unix socket", function()
		local local_only = assert(redis.start({ unix_socket = true }))
		local ok, err = pcall(function()
			for _, url in ipairs({ "redis+unix://" .. local_only.socket_path, "unix://" .. local_only.socket_path .. "?db=2" }) do
				local v = verifier({ replay_store = url })
				assert.is_true(v:verify("alice", "example.com", mint("alice")), url)
			end
			assert.equal(1, #local_only:token_keys())
			assert.equal(1, #local_only:token_keys(2))
		end)
		local_only:stop()
		assert(ok, err)
	end)

	it("refuses bad store options at creation, naming them and never the URL", function()
		for _, bad in ipairs({
			{ { replay_store = "http://:hunter2@localhost" }, "^replay_store: " },
			{ { replay_store = 6379 }, "^replay_store: must be a string" },
			{ { replay_store_timeout = 0 }, "^replay_store_timeout: " },
			{ { replay_store_connect_timeout = 20000 }, "^replay_store_connect_timeout: " },
		}) do
			local config = { otp_seed = SEED, token_secret = SECRET, replay_store = server.url }
			for k, v in pairs(bad[1]) do config[k] = v end
			local v, code, option, text = token_auth.new_verifier(config)
			assert.is_nil(v)
			assert.is_string(token_auth.config_problems[code])
			local err = option .. ": " .. text
			assert.matches(bad[2], err)
			assert.not_matches("hunter2", err)
		end
	end)

	describe("shared by two `token-auth extauth` helpers", function()
		local repo = shell.repo_root()
		local lua, build = shell.interpreter()
		local dir = shell.temp_dir("token-auth-redis-extauth")

		teardown(function()
			os.execute("rm -rf " .. shell.quote(dir))
		end)

		-- One helper process: answers the requests, then exits at end of input.
		local function helper(config_path, requests)
			local input = dir .. "/in"
			shell.write_file(input, table.concat(requests, "\n") .. "\n")
			local out = shell.capture(("env -u LUA_CPATH_5_4 LUA_CPATH=%s %s %s extauth --config %s <%s 2>>%s"):format(
				shell.quote(repo .. "/build/" .. build .. "/?.so;;"), lua, shell.quote(repo .. "/bin/token-auth"),
				shell.quote(config_path), shell.quote(input), shell.quote(dir .. "/err")))
			return out
		end

		it("refuses in the second helper a token the first accepted", function()
			local config_path = dir .. "/token.cfg.lua"
			shell.write_file(config_path, ("token_secret = %q\notp_seed = %q\ntoken_replay_store = %q\n"
				.. "VirtualHost \"example.com\"\n"):format(SECRET, SEED, server.url))
			local one, two = mint("alice"), mint("bob")
			assert.equal("1\n", helper(config_path, { "auth:alice:example.com:" .. one }))
			assert.equal("0\n1\n", helper(config_path, { "auth:alice:example.com:" .. one, "auth:bob:example.com:" .. two }))
			assert.equal("0\n", helper(config_path, { "auth:bob:example.com:" .. two }))
			local err = shell.read_file(dir .. "/err") or ""
			assert.matches("auth for alice@example.com failed: replayed", err, 1, true)
			assert.matches("auth for bob@example.com failed: replayed", err, 1, true)
			assert.not_matches(one:match(" (.*)$"), err, 1, true)
			-- Without the shared store, each helper has its own cache.
			local alone = dir .. "/alone.cfg.lua"
			shell.write_file(alone, ("token_secret = %q\notp_seed = %q\n"):format(SECRET, SEED))
			local three = mint("carol")
			assert.equal("1\n", helper(alone, { "auth:carol:example.com:" .. three }))
			assert.equal("1\n", helper(alone, { "auth:carol:example.com:" .. three }))
		end)

		it("answers 0 with replay_store_unavailable while Redis is down", function()
			local config_path = dir .. "/down.cfg.lua"
			shell.write_file(config_path, ("token_secret = %q\notp_seed = %q\ntoken_replay_store = %q\n"):format(
				SECRET, SEED, ("redis://127.0.0.1:%d"):format(shell.free_port())))
			os.remove(dir .. "/err")
			assert.equal("0\n0\n0\n", helper(config_path, { "auth:alice:example.com:" .. mint("alice"),
				"auth:bob:example.com:" .. mint("bob"), "auth:carol:example.com:" .. mint("carol") }))
			local err = shell.read_file(dir .. "/err") or ""
			-- Once per outage, not once per request, in Prosody's words.
			local _, lines = err:gsub("Replay store unavailable", "")
			assert.equal(1, lines, err)
			assert.matches("token-auth: extauth: Replay store unavailable (connection refused): token logins on"
				.. " example.com are refused until it answers again\n", err, 1, true)
			assert.not_matches("replay_store_unavailable", err, 1, true)
		end)

		it("logs the store's return once, as Prosody does, and answers 1 again", function()
			local port = shell.free_port()
			local config_path = dir .. "/back.cfg.lua"
			shell.write_file(config_path, ("token_secret = %q\notp_seed = %q\ntoken_replay_store = %q\n"):format(
				SECRET, SEED, ("redis://127.0.0.1:%d"):format(port)))
			-- One helper for the whole outage: requests go in through a FIFO.
			local fifo, out, err = dir .. "/requests", dir .. "/back.out", dir .. "/back.err"
			assert(os.execute("mkfifo " .. shell.quote(fifo)))
			assert(os.execute(("env -u LUA_CPATH_5_4 LUA_CPATH=%s %s %s extauth --config %s <%s >%s 2>%s &"):format(
				shell.quote(repo .. "/build/" .. build .. "/?.so;;"), lua, shell.quote(repo .. "/bin/token-auth"),
				shell.quote(config_path), shell.quote(fifo), shell.quote(out), shell.quote(err))))
			local requests = assert(io.open(fifo, "w"))
			local function ask(user)
				requests:write("auth:" .. user .. ":example.com:" .. mint(user) .. "\n")
				requests:flush()
			end
			local function answers(n)
				local deadline = shell.now() + 5
				repeat
					local text = shell.read_file(out) or ""
					if #text >= 2 * n then return text end
					shell.sleep(0.02)
				until shell.now() > deadline
				return shell.read_file(out) or ""
			end
			ask("alice")
			ask("bob")
			assert.equal("0\n0\n", answers(2))
			local back = assert(redis.start({ port = port }))
			shell.sleep(0.6) -- past the store's retry interval (half a second)
			ask("carol")
			ask("dave")
			requests:close()
			local all = answers(4)
			back:stop()
			assert.equal("0\n0\n1\n1\n", all)
			local log = shell.read_file(err) or ""
			local _, began = log:gsub("Replay store unavailable", "")
			local _, ended = log:gsub("Replay store answers again: token logins on example.com work again", "")
			assert.same({ 1, 1 }, { began, ended }, log)
		end)
	end)
end)
