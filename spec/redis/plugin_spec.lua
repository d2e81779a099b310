-- mod_auth_token with token_replay_store, in a fake `module` (spec/support/fake_module.lua)
-- over the real native module and a real redis-server: what it logs and counts
-- through an outage. Runs under Prosody's Lua (lua5.4).

describe("mod_auth_token with a Redis replay store #redis", function()
	local fake_module = require "spec.support.fake_module";
	local redis = require "spec.support.redis";
	local shell = require "spec.support.shell";
	if not fake_module.ready() then
		return;
	end
	local token_auth = require "token_auth";
	local HOST = "example.com";
	local SEED, SECRET = token_auth.new_seed(), token_auth.new_secret();
	local store;

	setup(function()
		store = assert(redis.start());
	end);

	teardown(function()
		if store then store:stop(); end
	end);

	local function load(extra)
		local options = { otp_seed = SEED, token_secret = SECRET, token_replay_store = store.url };
		for k, v in pairs(extra or {}) do options[k] = v; end
		local m = fake_module.new(HOST, "auth_token", options);
		local ok, err = fake_module.load_plugin(m);
		assert(ok, err);
		return m, m.provided.auth;
	end

	-- What the plugin logged about the store (not, say, a first login's "New user").
	local function store_messages(m, level)
		local found = {};
		for _, message in ipairs(fake_module.messages(m, level)) do
			if message:match("^Replay store") then found[#found + 1] = message; end
		end
		return found;
	end

	local function mint(user)
		return token_auth.generate_token(user, HOST, { otp_seed = SEED, token_secret = SECRET });
	end

	it("logs an outage once, counts each refusal, and logs the recovery", function()
		local m, provider = load();
		assert.same({ true }, { provider.test_password("alice", mint("alice")) });
		store:stop();
		for _ = 1, 3 do
			assert.same({ nil, "replay_store_unavailable" }, { provider.test_password("alice", mint("alice")) });
		end
		local errors = fake_module.messages(m, "error");
		assert.equal(1, #errors);
		assert.matches("^Replay store unavailable %(connection [a-z]+%): token logins on example%.com are refused", errors[1]);
		assert.same({}, store_messages(m, "info"));
		assert.equal(3, m.counts["results/replay_store_unavailable"]);

		store = assert(redis.start({ port = store.port }));
		local deadline = shell.now() + 3;
		local ok;
		repeat
			ok = provider.test_password("alice", mint("alice"));
			if not ok then shell.sleep(0.05); end
		until ok or shell.now() > deadline;
		assert.is_true(ok);
		assert.same({ "Replay store answers again: token logins on example.com work again" },
			store_messages(m, "info"));
		-- A second outage is a second error line.
		store:stop();
		provider.test_password("alice", mint("alice"));
		assert.equal(2, #fake_module.messages(m, "error"));
		store = assert(redis.start({ port = store.port }));
	end);

	it("maps the store's options to token_auth's and names them in errors", function()
		local m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET,
			token_replay_store = "redis://:hunter2@", token_replay_store_timeout = 5 });
		local ok, err = fake_module.load_plugin(m);
		assert.is_false(ok);
		assert.matches("option token_replay_store must be", err, 1, true);
		assert.not_matches("hunter2", err, 1, true);
		m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET,
			token_replay_store = store.url, token_replay_store_timeout = 0 });
		ok, err = fake_module.load_plugin(m);
		assert.is_false(ok);
		assert.matches("option token_replay_store_timeout must be", err, 1, true);
		m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET, token_replay_per_user = 0 });
		ok, err = fake_module.load_plugin(m);
		assert.is_false(ok);
		assert.matches("option token_replay_per_user must be", err, 1, true);
	end);

	it("hands a per-user refusal of the Redis store to X-TOKEN as temporary-auth-failure", function()
		local m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET, token_replay_per_user = 1,
			token_replay_store = store.url });
		assert(fake_module.load_plugin(m));
		assert(fake_module.load_plugin(fake_module.new(HOST, "sasl_token", {})));
		local provider = m.provided.auth;
		local function x_token(user)
			local handler = provider.get_sasl_handler({ secure = true });
			handler:select("X-TOKEN");
			return { handler:process("\0" .. user .. "\0" .. mint(user)) };
		end
		if store.stopped then store = assert(redis.start({ port = store.port })); end
		store:cli("FLUSHALL");
		assert.equal("success", x_token("frank")[1]);
		local refused = x_token("frank");
		assert.same({ "failure", "temporary-auth-failure" }, { refused[1], refused[2] });
		assert.equal("success", x_token("grace")[1]);
		assert.equal(1, m.counts["results/replay_user_full"]);
	end);

	it("hands a per-user refusal to X-TOKEN as temporary-auth-failure", function()
		local m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET, token_replay_per_user = 1 });
		assert(fake_module.load_plugin(m));
		assert(fake_module.load_plugin(fake_module.new(HOST, "sasl_token", {})));
		local provider = m.provided.auth;
		local function x_token(user)
			local handler = provider.get_sasl_handler({ secure = true });
			handler:select("X-TOKEN");
			return { handler:process("\0" .. user .. "\0" .. mint(user)) };
		end
		assert.equal("success", x_token("alice")[1]);
		local refused = x_token("alice");
		assert.same({ "failure", "temporary-auth-failure" }, { refused[1], refused[2] });
		assert.equal("success", x_token("bob")[1]);
		assert.equal(1, m.counts["results/replay_user_full"]);
	end);
end);
