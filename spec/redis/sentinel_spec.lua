-- The replay store through Redis Sentinel, on loopback: a master with a
-- password, two replicas, three redis-sentinel processes (Debian's), and the
-- native module's verifiers. The master is killed during a stream of logins:
-- with token_replay_store_replicas = 1 no token may be accepted twice, and
-- logins must work again once Sentinel has promoted a replica. Figures go to
-- stderr.

describe("the Redis replay store through Sentinel #redis", function()
	local redis = require "spec.support.redis";
	local shell = require "spec.support.shell";
	local token_auth = require "token_auth";

	local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
	local SECRET = "redis-spec-secret-0123456789";
	local PASSWORD = "sentinel-pass";
	local NAME = "tokens";
	local master, replicas, sentinels = nil, {}, {};
	local nonce = 0;

	local function mint(user)
		nonce = nonce + 1;
		return token_auth.generate_token(user, "example.com", { otp_seed = SEED, token_secret = SECRET,
			nonce = ("%032d"):format(nonce + math.random(1, 1e9) * 1000) });
	end

	local function sentinel_list()
		local list = {};
		for i, s in ipairs(sentinels) do list[i] = "127.0.0.1:" .. s.port; end
		return list;
	end

	local function verifier(extra)
		local config = { otp_seed = SEED, token_secret = SECRET,
			-- The URL's address is not used: Sentinel names the master.
			replay_store = ("redis://:%s@127.0.0.1:1/0"):format(PASSWORD),
			replay_store_sentinels = sentinel_list(), replay_store_master = NAME,
			replay_store_timeout = 300, replay_store_connect_timeout = 300 };
		for k, v in pairs(extra or {}) do config[k] = v; end
		local made, code, option, text = token_auth.new_verifier(config);
		return assert(made, code and (code .. ": " .. option .. " " .. text));
	end

	local function wait_for(what, seconds, check)
		local deadline = shell.now() + seconds;
		while not check() do
			assert(shell.now() < deadline, what .. " did not happen within " .. seconds .. " s");
			shell.sleep(0.1);
		end
	end

	setup(function()
		master = assert(redis.start({ password = PASSWORD }));
		for i = 1, 2 do
			replicas[i] = assert(redis.start({ password = PASSWORD, replicaof = master }));
		end
		for i = 1, 3 do
			sentinels[i] = assert(redis.start_sentinel({ master = master, name = NAME, quorum = 2,
				down_after_ms = 1000, failover_timeout_ms = 5000 }));
		end
		wait_for("replication", 15, function()
			local _, online = master:cli("INFO", "replication"):gsub("state=online", "");
			return online == 2;
		end);
		-- Every sentinel knows both replicas and the two other sentinels.
		wait_for("Sentinel discovery", 20, function()
			for _, s in ipairs(sentinels) do
				local info = s:cli("INFO", "sentinel");
				if not info:match("slaves=2,sentinels=3") then return false; end
			end
			return true;
		end);
	end);

	teardown(function()
		for _, s in ipairs(sentinels) do s:stop(); end
		for _, r in ipairs(replicas) do r:stop(); end
		if master then master:stop(); end
	end);

	before_each(function()
		collectgarbage();
		collectgarbage();
	end);

	it("finds the master through Sentinel, and a claim counts once a replica has it", function()
		local v = verifier({ replay_store_replicas = 1 });
		local token = mint("alice");
		assert.same({ true, nil }, { v:verify("alice", "example.com", token) });
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", token) });
		assert.equal(1, #master:token_keys());
		-- WAIT 1 returned 1: at least one replica holds it already.
		assert.is_true(#replicas[1]:token_keys() + #replicas[2]:token_keys() >= 1);
		-- Deferred: the sentinel's answer, then the master's handshake, claim and WAIT.
		local w = verifier({ replay_store_replicas = 1, replay_store_timeout = 301 });
		local ok, ticket = w:begin_verify("bob", "example.com", mint("bob"));
		assert.is_false(ok);
		local result;
		local deadline = shell.now() + 3;
		repeat
			result = w:collect()[ticket];
			shell.sleep(0.002);
		until result ~= nil or shell.now() > deadline;
		assert.is_true(result);
		assert.equal(2, #master:token_keys());
	end);

	it("refuses as unavailable when fewer replicas acknowledge than asked", function()
		local v = verifier({ replay_store_replicas = 3 });
		assert.same({ nil, "replay_store_unavailable" }, { v:verify("carol", "example.com", mint("carol")) });
		assert.equal("2 of 3 replicas acknowledged the claim", v:stats().replay_store_error);
	end);

	it("refuses a master name Sentinel does not know, and bad Sentinel options", function()
		local v = verifier({ replay_store_master = "nobody" });
		assert.same({ nil, "replay_store_unavailable" }, { v:verify("dave", "example.com", mint("dave")) });
		assert.equal("Sentinel named no master", v:stats().replay_store_error);
		for _, case in ipairs({
			{ { replay_store_master = false }, "^replay_store_master: must be a string" },
			{ { replay_store_sentinels = { "127.0.0.1" } }, "^replay_store_sentinels: must be a list" },
			{ { replay_store_sentinels = {} }, "^replay_store_sentinels: is an empty list" },
			{ { replay_store_replicas = 17 }, "^replay_store_replicas: " },
		}) do
			local config = { otp_seed = SEED, token_secret = SECRET, replay_store = "redis://127.0.0.1:1",
				replay_store_sentinels = sentinel_list(), replay_store_master = NAME };
			for k, val in pairs(case[1]) do config[k] = val; end
			if config.replay_store_master == false then config.replay_store_master = 1; end
			local made, code, option, text = token_auth.new_verifier(config);
			assert.is_nil(made);
			assert.is_string(token_auth.config_problems[code]);
			assert.matches(case[2], option .. ": " .. text);
		end
	end);

	it("asks a sentinel that wants TLS and a password, and refuses on a wrong password", function()
		-- A sentinel of its own, watching the same master under another name
		-- (the others ignore it) and too few to fail anything over.
		local dir = shell.temp_dir("token-auth-sentinel-certs");
		local certs = assert(redis.make_certs(dir));
		local guarded = assert(redis.start_sentinel({ master = master, name = "guarded", quorum = 2,
			password = "watch-pass", tls = certs }));
		local ok, err = pcall(function()
			-- It is up, and speaks TLS with that password.
			assert.matches("127.0.0.1", guarded:cli("SENTINEL", "get-master-addr-by-name", "guarded"), 1, true);
			local function through(sentinel)
				return verifier({ replay_store_sentinels = { sentinel }, replay_store_master = "guarded",
					replay_store_ca = certs.ca });
			end
			local url = "rediss://:%s@127.0.0.1:" .. guarded.port;
			local v = through(url:format("watch-pass"));
			local token = mint("frank");
			local keys = #master:token_keys();
			assert.same({ true, nil }, { v:verify("frank", "example.com", token) });
			assert.same({ nil, "replayed" }, { v:verify("frank", "example.com", token) });
			assert.equal(keys + 1, #master:token_keys());
			local wrong = through(url:format("not-the-pass"));
			assert.same({ nil, "replay_store_unavailable" }, { wrong:verify("grace", "example.com", mint("grace")) });
			assert.equal("authentication failed", wrong:stats().replay_store_error);
			-- Without TLS that sentinel is not reached at all (and the CA file,
			-- with no rediss:// URL to use it, is a mistake).
			local made, code, option = token_auth.new_verifier({ otp_seed = SEED, token_secret = SECRET,
				replay_store = "redis://127.0.0.1:1", replay_store_sentinels = { "127.0.0.1:" .. guarded.port },
				replay_store_master = "guarded", replay_store_ca = certs.ca });
			assert.same({ nil, "conflict", "replay_store_ca" }, { made, code, option });
			local plain = verifier({ replay_store_sentinels = { "redis://:watch-pass@127.0.0.1:" .. guarded.port },
				replay_store_master = "guarded" });
			assert.same({ nil, "replay_store_unavailable" }, { plain:verify("heidi", "example.com", mint("heidi")) });
		end);
		guarded:stop();
		os.execute("rm -rf " .. shell.quote(dir));
		assert(ok, err);
	end);

	it("serves Prosody logins through Sentinel, the login waiting in its session", function()
		local prosody = require "spec.support.prosody";
		local host = "sentinel.test";
		local seed, secret = prosody.random_base32(), prosody.random_base32();
		local p = assert(prosody.start({
			hosts = { host };
			options = {
				otp_seed = seed;
				token_secret = secret;
				token_replay_store = ("redis://:%s@127.0.0.1:1/0"):format(PASSWORD);
				token_replay_store_sentinels = sentinel_list();
				token_replay_store_master = NAME;
				token_replay_store_replicas = 1;
			};
		}));
		local ok, err = pcall(function()
			local token = prosody.mint({ user = "erin", host = host, seed = seed, secret = secret });
			local first = p:login({ jid = "erin@" .. host, mech = "X-TOKEN", password = token });
			assert.is_true(first.ok, tostring(first.condition) .. ": " .. tostring(first.text));
			local again = p:login({ jid = "erin@" .. host, mech = "X-TOKEN", password = token });
			assert.equal("not-authorized", again.condition);
			assert.matches("Token for erin@sentinel.test waits for the replay store", p:log(), 1, true);
		end);
		p:stop();
		assert(ok, err);
	end);

	it("accepts no token twice across a failover with replay_store_replicas = 1, and logs in again", function()
		local v = verifier({ replay_store_replicas = 1 });
		local accepted, refused, twice = {}, 0, 0;
		local killed_at, back_at;
		local deadline = shell.now() + 40;
		local i = 0;
		while shell.now() < deadline do
			i = i + 1;
			local user = "user" .. (i % 50);
			local token = mint(user);
			local ok = v:verify(user, "example.com", token);
			if ok then
				accepted[#accepted + 1] = { user, token };
				if killed_at and not back_at then back_at = shell.now(); end
			else
				refused = refused + 1;
			end
			-- Every accepted token is tried again right away: never accepted twice.
			local previous = accepted[#accepted - 1];
			if previous and v:verify(previous[1], "example.com", previous[2]) then
				twice = twice + 1;
			end
			if i == 30 then
				master:kill();
				killed_at = shell.now();
			end
			if back_at and shell.now() > back_at + 1 then break; end
			shell.sleep(0.01);
		end
		assert.is_truthy(killed_at, "the stream ended before the master was killed");
		assert.is_truthy(back_at, "no login worked again within 40 s of the failover");
		-- Asked afresh, through Sentinel, the new master knows every token accepted.
		local fresh = verifier({ replay_store_replicas = 1 });
		for _, pair in ipairs(accepted) do
			if fresh:verify(pair[1], "example.com", pair[2]) then
				twice = twice + 1;
			end
		end
		io.stderr:write(("\n[sentinel failover] replicas = 1: %d logins accepted, %d refused, %d tokens accepted "
			.. "twice; logins again %.1f s after the master was killed\n"):format(
			#accepted, refused, twice, back_at - killed_at));
		assert.equal(0, twice);
	end);
end);
