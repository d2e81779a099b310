-- Prosody with token_replay_store: two real Prosody servers serving the same
-- VirtualHost on different ports, one real redis-server, a real XMPP client
-- (slixmpp, over STARTTLS) and tokens minted by pyotp + hmac. Run from the
-- repository root:  lua5.4 /usr/bin/busted --run=redis

describe("Prosody servers sharing a Redis replay store #redis", function()
	local prosody = require "spec.support.prosody";
	local redis = require "spec.support.redis";
	local socket = require "socket";

	local SEED = prosody.random_base32();
	local SECRET = prosody.random_base32();
	local HOST = "shared.test";

	local store, a, b;
	local spec;

	local function mint(user)
		-- Stay clear of the last seconds of a step: the token must still be
		-- in the window when the server checks it.
		local left = 30 - socket.gettime() % 30;
		if left < 3 then
			socket.sleep(left + 0.2);
		end
		return prosody.mint({ user = user, host = HOST, seed = SEED, secret = SECRET });
	end

	local function login(server, user, token)
		return server:login({ jid = user .. "@" .. HOST, mech = "X-TOKEN", password = token });
	end

	local function assert_bound(answer)
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
	end

	local function assert_refused(answer, condition)
		assert.is_false(answer.ok);
		assert.equal(condition, answer.condition, answer.text);
		assert.equal(0, answer.exit_status); -- a clean SASL <failure/>, not a hang-up
	end

	local function count(text, plain)
		local n, at = 0, 1;
		while true do
			local found = text:find(plain, at, true);
			if not found then
				return n;
			end
			n, at = n + 1, found + 1;
		end
	end

	setup(function()
		store = assert(redis.start());
		spec = {
			hosts = { HOST };
			options = {
				otp_seed = SEED;
				token_secret = SECRET;
				token_replay_store = store.url;
			};
		};
		a = assert(prosody.start(spec));
		b = assert(prosody.start(spec));
	end);

	teardown(function()
		for _, server in ipairs({ a, b }) do
			if server then server:stop(); end
		end
		if store then store:stop(); end
	end);

	it("refuses on one server a token used on the other", function()
		assert.are_not.equal(a.port, b.port);
		local one, two = mint("alice"), mint("bob");
		assert_bound(login(a, "alice", one));
		assert_refused(login(b, "alice", one), "not-authorized");
		assert_bound(login(b, "bob", two));
		assert_refused(login(a, "bob", two), "not-authorized");
		assert.matches("Token refused for alice@shared.test via X-TOKEN: replayed", b:log(), 1, true);
		assert.matches("Token refused for bob@shared.test via X-TOKEN: replayed", a:log(), 1, true);
		assert.equal(2, #store:token_keys());
	end);

	it("keeps refusing after a restart a token used before it", function()
		local token = mint("carol");
		assert_bound(login(a, "carol", token));
		a:stop();
		a = assert(prosody.start(spec));
		assert_refused(login(a, "carol", token), "not-authorized");
		assert.matches("Token refused for carol@shared.test via X-TOKEN: replayed", a:log(), 1, true);
	end);

	-- Starts a server whose logins wait up to `timeout_ms` for the store
	-- (with `modules` too), leaves a login of `user` waiting there for a
	-- paused Redis (the user's first login, bound, opened the connection),
	-- and runs check(server, waiting); always resumes Redis and stops the
	-- server.
	local function with_waiting_login(timeout_ms, modules, user, check)
		local patient = {};
		for k, v in pairs(spec) do patient[k] = v; end
		patient.modules = modules or spec.modules;
		patient.options = {};
		for k, v in pairs(spec.options) do patient.options[k] = v; end
		patient.options.token_replay_store_timeout = timeout_ms;
		local c = assert(prosody.start(patient));
		local ok, err = pcall(function()
			assert_bound(login(c, user, mint(user)));
			store:pause();
			local waiting = c:session({ jid = user .. "@" .. HOST, mech = "X-TOKEN", password = mint(user) });
			-- Every login with a store waits for it: the second line is this one's.
			local line = ("Token for %s@%s waits for the replay store"):format(user, HOST);
			local deadline = socket.gettime() + 10;
			while count(c:log(), line) < 2 and socket.gettime() < deadline do
				socket.sleep(0.05);
			end
			assert.equal(2, count(c:log(), line), "the login never waited");
			check(c, waiting);
		end);
		store:resume();
		c:stop();
		assert(ok, err);
	end

	it("goes on serving other logins while one waits for a Redis that does not answer", function()
		with_waiting_login(4000, nil, "frank", function(c, waiting)
			local started = socket.gettime();
			-- Another login, refused before the store (forged signature),
			-- is answered while frank waits: the server is not held.
			assert_refused(login(c, "grace", mint("grace"):sub(1, 40) .. " " .. ("A"):rep(43) .. "="), "not-authorized");
			local answered_in = socket.gettime() - started;
			local still_waiting = waiting:login(0.1);
			store:resume();
			assert.is_nil(still_waiting, "frank's login was answered before the store");
			assert.is_true(answered_in < 3, "another login waited " .. answered_in .. " s");
			-- Redis answers once resumed: frank is in, without a timeout.
			local answer = assert(waiting:login(10));
			assert_bound(answer);
			assert.is_true(c:alive());
		end);
	end);

	it("refuses at once a login that waits when its host's provider unloads", function()
		with_waiting_login(8000, { "admin_shell"; "admin_socket" }, "heidi", function(c, waiting)
			local started = socket.gettime();
			local out, status = c:prosodyctl("shell", ("module:reload('auth_token', '%s')"):format(HOST));
			assert.equal(0, status, out);
			-- Refused by the unload, not by the 8 s timeout nor by Redis.
			local answer = assert(waiting:login(5));
			local refused_in = socket.gettime() - started;
			store:resume();
			assert_refused(answer, "temporary-auth-failure");
			assert.is_true(refused_in < 4, "refused after " .. refused_in .. " s");
			assert.matches("Token refused for heidi@shared.test via X-TOKEN: replay_store_unavailable", c:log(), 1, true);
			-- The reloaded provider logs in.
			assert_bound(login(c, "heidi", mint("heidi")));
			assert.is_true(c:alive());
		end);
	end);

	it("answers temporary-auth-failure while Redis is down, logs it once, and logs in again once it is back", function()
		local pid = a.pid;
		assert_bound(login(a, "dave", mint("dave")));
		store:stop();
		assert_refused(login(a, "dave", mint("dave")), "temporary-auth-failure");
		assert_refused(login(a, "erin", mint("erin")), "temporary-auth-failure");
		local log = a:log();
		assert.equal(1, count(log, "Replay store unavailable (connection "));
		assert.equal(0, count(log, "info\tToken refused for dave@shared.test via X-TOKEN: replay_store_unavailable"));

		store = assert(redis.start({ port = store.port }));
		local answer;
		for _ = 1, 5 do
			answer = login(a, "dave", mint("dave"));
			if answer.ok then break; end
			socket.sleep(0.2);
		end
		assert_bound(answer);
		assert.equal(pid, a.pid);
		assert.is_true(a:alive());
		log = a:wait_for_log("Replay store answers again", 5);
		assert.equal(1, count(log, "Replay store answers again"));
		assert.equal(1, count(log, "Replay store unavailable ("));
	end);
end);
