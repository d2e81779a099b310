-- A Redis that stops answering must not stall Prosody (issue 19): one real
-- Prosody with 10 VirtualHosts naming the same store (a password and a
-- database other than 0, the secure setup, so every reconnect needs AUTH
-- and SELECT), valid token logins on every host all along
-- (spec/support/login_load.py), and an unrelated client that only opens a
-- stream and waits for its features. Redis is then black-holed (SIGSTOP:
-- connects are still accepted by the kernel, nothing is answered), and the
-- unrelated client must get its features within twice the time it took
-- with Redis answering (median and 90th percentile, give or take 5 ms). Figures go to stderr.

describe("Prosody with 10 hosts on one Redis store that stops answering #redis", function()
	local prosody = require "spec.support.prosody";
	local redis = require "spec.support.redis";
	local shell = require "spec.support.shell";
	local xmpp_load = require "spec.support.xmpp_load";
	local percentile = xmpp_load.percentile;

	local SEED = prosody.random_base32();
	local SECRET = prosody.random_base32();
	local HOSTS = {};
	for i = 1, 10 do
		HOSTS[i] = ("h%d.test"):format(i);
	end

	local store, server;

	setup(function()
		store = assert(redis.start({ password = "outage-pass" }));
		server = assert(prosody.start({
			hosts = HOSTS;
			options = {
				otp_seed = SEED;
				token_secret = SECRET;
				token_replay_store = ("redis://:outage-pass@127.0.0.1:%d/2"):format(store.port);
				-- The load's raw-socket client speaks no TLS: logins in the clear
				-- on 127.0.0.1, so that the store, not TLS, is what they cost.
				c2s_require_encryption = false;
				allow_unencrypted_plain_auth = true;
			};
			log_level = "warn";
		}));
		shell.write_file(server.dir .. "/secrets", SEED .. "\n" .. SECRET .. "\n");
	end);

	teardown(function()
		if server then server:stop(); end
		if store then store:stop(); end
	end);

	-- Features latencies (seconds) for `seconds`, one probe every 20 ms.
	local function probe(samples, seconds)
		local stop = shell.now() + seconds;
		while shell.now() < stop do
			samples[#samples + 1] = xmpp_load.features_latency(server.port, HOSTS[(#samples % #HOSTS) + 1]);
			shell.sleep(0.02);
		end
	end

	it("answers an unrelated client's stream within twice the no-outage time", function()
		-- Redis answering and Redis stopped take turns in short slices under
		-- the same load, so that a machine busy with other work weighs on
		-- both alike.
		local ROUNDS, SLICE = 4, 0.6;
		local finish = xmpp_load.start(server, HOSTS, { seconds = ROUNDS * 2 * SLICE + 1.5, rate = 20 });
		shell.sleep(0.5); -- the load under way
		local baseline, outage_samples = {}, {};
		local ok, err = pcall(function()
			for _ = 1, ROUNDS do
				probe(baseline, SLICE);
				store:pause();
				probe(outage_samples, SLICE);
				store:resume();
			end
		end);
		store:resume();
		assert(ok, err);
		local ok_total, failed_total = finish();
		assert.is_true(ok_total > 0, "no login succeeded with Redis answering");
		assert.is_true(failed_total > 0, "the outage refused no login: Redis was not out");

		local base_median, out_median = percentile(baseline, 0.5), percentile(outage_samples, 0.5);
		io.stderr:write(("\n[outage 10 hosts] stream features ms: Redis answering median %.1f p90 %.1f max %.1f; "
			.. "Redis stopped median %.1f p90 %.1f max %.1f (%d probes each way; logins %d ok, %d refused)\n"):format(
			base_median * 1e3, percentile(baseline, 0.9) * 1e3, percentile(baseline, 1) * 1e3,
			out_median * 1e3, percentile(outage_samples, 0.9) * 1e3, percentile(outage_samples, 1) * 1e3,
			math.min(#baseline, #outage_samples), ok_total, failed_total));
		-- The median alone would miss stalls: a server held now and then
		-- answers most probes at once. The 90th percentile sees them. A few
		-- milliseconds are allowed on top of twice the figure: scheduling
		-- noise on a shared test machine, well below what one stall costs
		-- (a connect timeout is 50 ms; before issue 19 the median here was
		-- over 100 ms).
		local function within(outage, base, what)
			assert.is_true(outage <= math.max(2 * base, base + 0.005),
				("%s %.1f ms during the outage, %.1f ms without"):format(what, outage * 1e3, base * 1e3));
		end
		within(out_median, base_median, "median");
		within(percentile(outage_samples, 0.9), percentile(baseline, 0.9), "90th percentile");
		assert.is_true(server:alive());
	end);
end);
