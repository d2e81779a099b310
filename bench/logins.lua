-- Starts a throwaway Prosody (spec/support/prosody.lua) with token
-- authentication, runs bench/logins.py against it and stops it.
--
--   lua5.4 bench/logins.lua [--quick] [--redis]      (from the repository root)
--
-- With --redis a second Prosody of the same host and secrets remembers used
-- tokens in a throwaway redis-server (spec/support/redis.lua,
-- token_replay_store, default timeouts) instead of its own cache, and a
-- third, the same as the first, is the control: how far two identical
-- servers differ in the same run. The client takes turns between them in
-- one-second slices and names their figures logins_redis_* and
-- logins_control_*.
--
-- BENCH_LOGIN_ARGS replaces the client's run options (default "--rounds 16",
-- "--rounds 2" with --quick), e.g. "--rounds 40 --slice 1 --concurrency 200";
-- BENCH_LOG_LEVEL the servers' log level (default "error").
--
-- The seed and secret are fresh random values, never printed: the client
-- reads them from a file in the server's temp dir (removed with it), not
-- from its command line, which `ps` shows. Prosody logs at "error" level
-- only, as a busy production server would not log every login at debug.

package.path = "./?.lua;" .. package.path;
package.cpath = "build/lua54/?.so;" .. package.cpath;

local prosody = require "spec.support.prosody";
local token_auth = require "token_auth";

local quick, with_redis = false, false;
for _, a in ipairs(arg) do
	quick = quick or a == "--quick";
	with_redis = with_redis or a == "--redis";
end
local HOST = "bench.test";
local seed, secret = token_auth.new_seed(), token_auth.new_secret();

local started = {};
local function stop_all()
	for i = #started, 1, -1 do
		started[i]:stop();
	end
end

local function start_prosody(store)
	local server, why = prosody.start({
		hosts = { HOST };
		options = {
			otp_seed = seed;
			token_secret = secret;
			token_replay_capacity = 1000000;
			token_replay_per_user = 1000000; -- the client cycles through 1000 users only
			token_replay_store = store and store.url or nil;
			-- bench/logins.py speaks no TLS: logins in the clear on 127.0.0.1
			-- (the test Prosody requires encryption unless told otherwise).
			c2s_require_encryption = false;
			allow_unencrypted_plain_auth = true;
		};
		log_level = os.getenv("BENCH_LOG_LEVEL") or "error";
	});
	if not server then
		stop_all();
		error(why, 0);
	end
	started[#started + 1] = server;
	return server;
end

local server = start_prosody(nil);
local also = "";
if with_redis then
	local store, why = require "spec.support.redis".start();
	if not store then
		stop_all();
		error(why, 0);
	end
	started[#started + 1] = store;
	local shared = start_prosody(store);
	local control = start_prosody(nil);
	also = ("--also %d:%d:redis --also %d:%d:control"):format(shared.port, shared.pid, control.port, control.pid);
end

local ran, out, status = pcall(function()
	local secrets_path = server.dir .. "/bench-secrets";
	local f = assert(io.open(secrets_path, "w"));
	f:write(seed, "\n", secret, "\n");
	f:close();
	local command = ("/usr/bin/python3 bench/logins.py --port %d --host %s --server-pid %d --secrets-file %s %s %s")
		:format(server.port, HOST, server.pid, secrets_path, also,
			os.getenv("BENCH_LOGIN_ARGS") or (quick and "--rounds 2" or "--rounds 16"));
	local p = assert(io.popen(command, "r"));
	local text = p:read("*a");
	local _, _, code = p:close();
	return text, code;
end);
stop_all();
if not ran then
	error(out, 0);
end
io.write(out);
if status ~= 0 then
	io.stderr:write("bench/logins.py failed (exit status ", tostring(status), ")\n");
	os.exit(1);
end
