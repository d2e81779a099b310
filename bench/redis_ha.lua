-- The Redis replay store when Redis goes away, in `make bench`:
--   * stream-features latency of an unrelated client while Redis is stopped
--     (SIGSTOP), beside the same with Redis answering, for a Prosody with 1
--     and with 10 VirtualHosts on one store (a password and database 2, so
--     every reconnect needs AUTH and SELECT), under 20 token logins a second
--     per host; answering and stopped take turns in short slices;
--   * logins per second, second by second, through a Prosody whose store is
--     found through Sentinel (a master, two replicas, three sentinels,
--     token_replay_store_replicas = 1), while the master is killed.
--
--   lua5.4 bench/redis_ha.lua [--quick]      (from the repository root, after make build-lua54)
--
-- Prints `name<TAB>value<TAB>unit` lines, names prefixed with redis_.

package.path = "./?.lua;" .. package.path;
package.cpath = "build/lua54/?.so;" .. package.cpath;

local prosody = require "spec.support.prosody";
local redis = require "spec.support.redis";
local shell = require "spec.support.shell";
local xmpp_load = require "spec.support.xmpp_load";

local quick = arg[1] == "--quick";
local PASSWORD = "bench-pass";

local function emit(name, value, unit)
	io.write(("redis_%s\t%.4f\t%s\n"):format(name, value, unit));
	io.flush();
end

local running = {};
local function keep(server)
	running[#running + 1] = server;
	return server;
end

local function start_prosody(hosts, options)
	local seed, secret = prosody.random_base32(), prosody.random_base32();
	options.otp_seed, options.token_secret = seed, secret;
	-- The load's raw-socket client speaks no TLS: logins in the clear on 127.0.0.1.
	options.c2s_require_encryption = false;
	options.allow_unencrypted_plain_auth = true;
	local server = keep(assert(prosody.start({ hosts = hosts, options = options, log_level = "error" })));
	shell.write_file(server.dir .. "/secrets", seed .. "\n" .. secret .. "\n");
	return server;
end

-- Stream-features latency, Redis answering and stopped in turns.
local function outage(host_count)
	local store = keep(assert(redis.start({ password = PASSWORD })));
	local hosts = {};
	for i = 1, host_count do hosts[i] = ("h%d.bench"):format(i); end
	local server = start_prosody(hosts, {
		token_replay_store = ("redis://:%s@127.0.0.1:%d/2"):format(PASSWORD, store.port),
	});
	local rounds, slice = quick and 3 or 6, 0.6;
	local finish = xmpp_load.start(server, hosts, { seconds = rounds * 2 * slice + 1.5, rate = 20 });
	shell.sleep(0.5);
	local answering, stopped = {}, {};
	local function probe(samples)
		local stop = shell.now() + slice;
		while shell.now() < stop do
			samples[#samples + 1] = xmpp_load.features_latency(server.port, hosts[(#samples % #hosts) + 1]);
			shell.sleep(0.02);
		end
	end
	for _ = 1, rounds do
		probe(answering);
		store:pause();
		probe(stopped);
		store:resume();
	end
	finish();
	for name, samples in pairs({ answering = answering, stopped = stopped }) do
		emit(("outage_%d_hosts_%s_median"):format(host_count, name), xmpp_load.percentile(samples, 0.5) * 1e3, "ms");
		emit(("outage_%d_hosts_%s_p90"):format(host_count, name), xmpp_load.percentile(samples, 0.9) * 1e3, "ms");
		emit(("outage_%d_hosts_%s_max"):format(host_count, name), xmpp_load.percentile(samples, 1) * 1e3, "ms");
	end
	server:stop();
	store:stop();
end

-- Logins per second through a failover.
local function failover()
	local master = keep(assert(redis.start({ password = PASSWORD })));
	for _ = 1, 2 do
		keep(assert(redis.start({ password = PASSWORD, replicaof = master })));
	end
	local sentinels, addresses = {}, {};
	for i = 1, 3 do
		sentinels[i] = keep(assert(redis.start_sentinel({ master = master, name = "tokens", quorum = 2,
			down_after_ms = 1000, failover_timeout_ms = 5000 })));
		addresses[i] = "127.0.0.1:" .. sentinels[i].port;
	end
	local deadline = shell.now() + 30;
	local function ready()
		local _, online = master:cli("INFO", "replication"):gsub("state=online", "");
		if online ~= 2 then return false; end
		for _, s in ipairs(sentinels) do
			if not s:cli("INFO", "sentinel"):match("slaves=2,sentinels=3") then return false; end
		end
		return true;
	end
	while not ready() do
		assert(shell.now() < deadline, "the Sentinel set-up did not settle");
		shell.sleep(0.1);
	end
	local host = "failover.bench";
	local server = start_prosody({ host }, {
		token_replay_store = ("redis://:%s@127.0.0.1:1/0"):format(PASSWORD),
		token_replay_store_sentinels = addresses,
		token_replay_store_master = "tokens",
		token_replay_store_replicas = 1,
	});
	local seconds, kill_at = quick and 10 or 14, 3;
	local finish = xmpp_load.start(server, { host }, { seconds = seconds, rate = 100, timeline = true });
	shell.sleep(kill_at);
	master:kill();
	local _, _, timeline = finish();
	local first_back;
	for second = 0, seconds - 1 do
		local counts = timeline[second] or { 0, 0 };
		emit(("failover_second_%02d_ok"):format(second), counts[1], "per_s");
		emit(("failover_second_%02d_refused"):format(second), counts[2], "per_s");
		if not first_back and second > kill_at and counts[1] > 0 then
			first_back = second;
		end
	end
	emit("failover_kill_second", kill_at, "s");
	if first_back then
		emit("failover_back_after", first_back - kill_at, "s");
	end
	server:stop();
end

local ok, err = pcall(function()
	outage(1);
	outage(10);
	failover();
end);
for i = #running, 1, -1 do
	running[i]:stop();
end
if not ok then
	error(err, 0);
end
