-- mod_auth_token/jwks.lib.lua: keeps a verifier's JWT keys in step with a
-- JWKS URL (token_jwt_keys_url), loaded by mod_auth_token with
-- module:require "jwks".
--
-- The set is fetched with Prosody's own HTTP client (net.http, asynchronous)
-- at load, every `refresh` seconds, and when a token names a kid the set does
-- not have, at most once every MIN_INTERVAL seconds whatever tokens arrive.
-- A failed fetch (unreachable, not 200, not a usable set) keeps the last good
-- set. A login that meets an unknown kid waits for the fetch in its own
-- session (util.async), never in Prosody's thread, and at most WAIT seconds.
--
--   local fetcher = jwks.new(module, verifier, url, refresh)
--   fetcher.on_unknown_kid()  -> true when a fetch ran (worth checking again)
--   fetcher.stats()           -> { fetches, failures, keys, last_error }

local http = require "net.http";
local async = require "util.async";
local time_now = require "util.time".now;
local ipairs, tostring, type = ipairs, tostring, type;

local MIN_INTERVAL = 5; -- seconds between two fetches asked for by tokens
local WAIT = 2;         -- the longest a login waits for a fetch
local FETCH_TIMEOUT = 10;

local jwks = {};

function jwks.new(module, verifier, url, refresh)
	local fetcher = {};
	local fetching, current, last_start = false, nil, nil;
	local waiters = {};
	local stats = { fetches = 0, failures = 0, keys = #verifier:jwt_keys() };

	local function settle()
		fetching = false;
		local done_list = waiters;
		waiters = {};
		for _, done in ipairs(done_list) do
			done();
		end
	end

	local function failed(problem)
		stats.failures = stats.failures + 1;
		stats.last_error = problem;
		module:log("warn", "JWT keys from %s not updated (%s): keeping the last good set of %d keys",
			url, problem, stats.keys);
		settle();
	end

	local function fetch(why)
		if fetching then
			return;
		end
		fetching, last_start = true, time_now();
		local this = {};
		current = this;
		stats.fetches = stats.fetches + 1;
		module:log("debug", "Fetching the JWT keys from %s (%s)", url, why);
		local timer = module:add_timer(FETCH_TIMEOUT, function()
			if current == this and fetching then
				current = nil;
				failed("no answer within " .. FETCH_TIMEOUT .. " s");
			end
		end);
		http.request(url, { headers = { Accept = "application/jwk-set+json, application/json" } }, function(body, code)
			if current ~= this then
				return; -- timed out already
			end
			current = nil;
			if timer and timer.stop then
				timer:stop();
			end
			if code ~= 200 or type(body) ~= "string" then
				failed(type(code) == "number" and ("HTTP " .. code) or tostring(code));
				return;
			end
			local ok, err = verifier:set_jwt_keys(body, true);
			if not ok then
				failed(err);
				return;
			end
			local keys = verifier:jwt_keys();
			stats.keys, stats.last_error = #keys, nil;
			module:log("info", "JWT keys from %s: %d keys", url, #keys);
			settle();
		end);
	end

	function fetcher.on_unknown_kid()
		if not fetching and (last_start == nil or time_now() - last_start >= MIN_INTERVAL) then
			fetch("a token named a kid the set does not have");
		end
		if not fetching or not async.ready() then
			return false;
		end
		local wait, done = async.waiter();
		local woken = false;
		local function wake()
			if not woken then
				woken = true;
				done();
			end
		end
		waiters[#waiters + 1] = wake;
		module:add_timer(WAIT, wake);
		wait();
		return true;
	end

	function fetcher.stats()
		return stats;
	end

	fetch("load");
	module:add_timer(refresh, function()
		fetch("periodic refresh");
		return refresh;
	end);
	return fetcher;
end

return jwks;
