-- The Redis replay store in `make bench`, against a throwaway redis-server
-- (spec/support/redis.lua) on 127.0.0.1, all in one run:
--   * wall time of one valid verification with the in-process cache, with the
--     Redis store, with the same store over TLS (rediss://, a second
--     redis-server with TLS only, certificates made with openssl), a replay
--     refused by the store, and one bare round trip
--     (PING over the store's own connection), back to back and after 2 ms of
--     quiet;
--   * Redis memory per live token (INFO memory's used_memory over N keys, and
--     MEMORY USAGE of one key);
--   * `token-auth extauth` requests/s (generic protocol, a file of requests on
--     stdin) with the in-process cache and with the Redis store.
--
--   lua5.4 bench/redis.lua [--quick]      (from the repository root, after make build-lua54)
--
-- Prints `name<TAB>value<TAB>unit` lines, names prefixed with redis_. Wall
-- time (LuaSocket's gettime), since a round trip is mostly waiting.

package.path = "./?.lua;" .. package.path;
package.cpath = "build/lua54/?.so;" .. package.cpath;

local redis = require "spec.support.redis";
local shell = require "spec.support.shell";
local token_auth = require "token_auth";

local quick = arg[1] == "--quick";
local RUNS = quick and 3 or 7;
local N = quick and 5000 or 20000; -- verifications per run
local N_EXTAUTH = quick and 2000 or 5000; -- requests per extauth run
local USER, HOST = "alice", "bench.test";
local now = shell.now;

local function emit(name, value, unit)
	io.write(("redis_%s\t%.4f\t%s\n"):format(name, value, unit));
	io.flush();
end

local function median(values)
	table.sort(values);
	local n = #values;
	if n % 2 == 1 then
		return values[(n + 1) / 2];
	end
	return (values[n / 2] + values[n / 2 + 1]) / 2;
end

local server = assert(redis.start());
local dir = shell.temp_dir("token-auth-bench-redis");
local certs = assert(redis.make_certs(dir));
local tls_server = assert(redis.start({ tls = certs }));

-- Everything else; the server and the temp dir go whatever happens.
local function main()
	emit("version_major", tonumber(redis.version():match("^(%d+)")), "count");

	local seed, secret = token_auth.new_seed(), token_auth.new_secret();
	local T = os.time();
	local tokens = {};
	for i = 1, N do
		tokens[i] = token_auth.generate_token(USER, HOST,
			{ otp_seed = seed, token_secret = secret, time = T, nonce = ("%032d"):format(i) });
	end

	-- The store's timeouts are raised from their defaults (50 ms connect, 20 ms
	-- reply) so that a stall of a busy benchmark machine fails no call here: they
	-- change nothing in the cost of a call that Redis answers.
	local function new_verifier(store)
		return assert(token_auth.new_verifier({
			otp_seed = seed, token_secret = secret, replay_capacity = N, replay_per_user = N, replay_store = store,
			replay_store_timeout = store and 1000 or nil, replay_store_connect_timeout = store and 1000 or nil,
			replay_store_ca = store and store:match("^rediss:") and certs.ca or nil,
		}));
	end

	-- Microseconds per call: median over RUNS of `run(verifier)` on a fresh
	-- verifier (and an empty Redis), the first run a warm-up.
	local function measure(store, run, want)
		local samples = {};
		for r = 1, RUNS + 1 do
			server:cli("FLUSHALL");
			tls_server:cli("FLUSHALL");
			collectgarbage(); -- the last run's verifier, and with it its store
			local verifier = new_verifier(store);
			if store then
				assert(verifier:ping_store()); -- connected before the clock starts
			end
			collectgarbage();
			local start = now();
			local calls, got = run(verifier);
			local elapsed = now() - start;
			assert(got == want, ("expected %s, got %s"):format(tostring(want), tostring(got)));
			if r > 1 then
				samples[#samples + 1] = elapsed / calls * 1e6;
			end
		end
		return median(samples);
	end

	local function verify_all(verifier)
		local ok, reason;
		for i = 1, N do
			ok, reason = verifier:verify(USER, HOST, tokens[i], T);
			if not ok then
				return i, reason;
			end
		end
		return N, ok;
	end

	local function replay_all(verifier)
		local _, first = verify_all(verifier);
		assert(first == true, tostring(first));
		local start = now();
		local reason;
		for i = 1, N do
			reason = select(2, verifier:verify(USER, HOST, tokens[i], T));
		end
		local replays = now() - start; -- the replays alone
		return N, reason, replays;
	end

	local function ping_all(verifier)
		local ok;
		for _ = 1, N do
			ok = verifier:ping_store();
		end
		return N, ok;
	end

	emit("verify_local", measure(nil, verify_all, true), "us");
	emit("verify_store", measure(server.url, verify_all, true), "us");
	emit("verify_store_tls", measure(tls_server.url, verify_all, true), "us");
	emit("ping", measure(server.url, ping_all, true), "us");
	-- A round trip after 2 ms of quiet, as one client's back-to-back logins
	-- leave between their claims: on a virtual machine whose idle CPUs halt,
	-- both processes then have to be woken up, and this is what one
	-- sequential login waits for.
	do
		local verifier = new_verifier(server.url);
		assert(verifier:ping_store());
		local samples = {};
		for i = 1, quick and 200 or 500 do
			shell.sleep(0.002);
			local start = now();
			assert(verifier:ping_store());
			samples[i] = (now() - start) * 1e6;
		end
		emit("ping_idle", median(samples), "us");
	end
	do
		local samples = {};
		for r = 1, RUNS + 1 do
			server:cli("FLUSHALL");
			local verifier = new_verifier(server.url);
			local _, reason, took = replay_all(verifier);
			assert(reason == "replayed", tostring(reason));
			if r > 1 then
				samples[#samples + 1] = took / N * 1e6;
			end
		end
		emit("verify_store_replayed", median(samples), "us");
	end

	-- Memory: used_memory grows by this much for N live tokens.
	local function used_memory()
		return tonumber(server:cli("INFO", "memory"):match("used_memory:(%d+)"));
	end
	server:cli("FLUSHALL");
	local verifier = new_verifier(server.url);
	assert(verifier:ping_store());
	local before = used_memory();
	assert(select(2, verify_all(verifier)) == true);
	local after = used_memory();
	emit("bytes_per_token", (after - before) / N, "bytes");
	local key = server:token_keys()[1];
	emit("memory_usage_key", tonumber(server:cli("MEMORY", "USAGE", key)), "bytes");
	emit("key_length", #key, "bytes");

	-- token-auth extauth over a file of requests, in-process cache or Redis.
	local function extauth_rate(store)
		local config = dir .. "/token.cfg.lua";
		shell.write_file(config, ("token_secret = %q\notp_seed = %q\ntoken_replay_capacity = %d\n"
			.. "token_replay_per_user = %d\n%s"):format(secret, seed, N_EXTAUTH, N_EXTAUTH,
			store and ("token_replay_store = %q\ntoken_replay_store_timeout = 1000\n"):format(store) or ""));
		local function run(count)
			local lines = {};
			local t = os.time();
			for i = 1, count do
				local token = token_auth.generate_token(USER, HOST,
					{ otp_seed = seed, token_secret = secret, time = t, nonce = ("%032d"):format(i) });
				lines[i] = "auth:" .. USER .. ":" .. HOST .. ":" .. token;
			end
			shell.write_file(dir .. "/in", table.concat(lines, "\n") .. (count > 0 and "\n" or ""));
			server:cli("FLUSHALL");
			local start = now();
			local command = "env LUA_CPATH='build/lua54/?.so;;' lua5.4 bin/token-auth extauth --config %s <%s 2>/dev/null";
			local out = shell.capture(command:format(shell.quote(config), shell.quote(dir .. "/in")));
			local elapsed = now() - start;
			local _, yes = out:gsub("1\n", "");
			assert(yes == count, ("extauth accepted %d of %d"):format(yes, count));
			return elapsed;
		end
		local rates = {};
		for _ = 1, math.max(3, RUNS - 4) do
			local idle = run(0); -- start-up and exit, taken out
			rates[#rates + 1] = N_EXTAUTH / math.max(run(N_EXTAUTH) - idle, 1e-6);
		end
		return median(rates);
	end
	emit("extauth_local_rate", extauth_rate(nil), "per_s");
	emit("extauth_store_rate", extauth_rate(server.url), "per_s");
end

local ok, err = pcall(main);
tls_server:stop();
server:stop();
os.execute("rm -rf " .. shell.quote(dir));
if not ok then
	error(err, 0);
end
