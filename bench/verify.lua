-- The Lua side of `make bench`: per-call cost of token_auth from Lua 5.4 or
-- LuaJIT, beside the pure-Lua way (bench/pure_lua.lua) and an empty Lua -> C
-- method call (bench/empty_call.c), all in one process.
--
--   lua5.4 bench/verify.lua [--quick]      (from the repository root, after
--   luajit bench/verify.lua [--quick]       `make build` and scripts/bench's
--                                           compile of empty_call.so)
--
-- Prints `name<TAB>value<TAB>unit` lines (microseconds per call, the median
-- of several runs of CPU time from os.clock), names prefixed with lua54_ or
-- luajit_. Seeds and secrets are fresh random values and are never printed.

local interpreter = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""));
package.cpath = ("build/%s/?.so;target/bench/%s/?.so;"):format(interpreter, interpreter) .. package.cpath;
package.path = "bench/?.lua;" .. package.path;
if interpreter == "lua54" then
	-- Prosody's C util.encodings, for the pure-Lua way's base64 decode.
	package.cpath = package.cpath .. ";/usr/lib/prosody/?.so";
end

local token_auth = require "token_auth";
local empty_call = require "empty_call";
local pure_lua = require "pure_lua";

local quick = arg[1] == "--quick";
local RUNS = quick and 3 or 7;
local N = quick and 20000 or 100000; -- fresh tokens per verifier run
local N_SLOW = quick and 2000 or 10000; -- iterations for the slow paths

local clock = os.clock;
local format = string.format;

local USER, HOST = "alice", "example.com";
local T = 1700000010 - 1700000010 % 30; -- a step start: all tokens of one step

local function emit(name, value, unit)
	io.write(format("%s_%s\t%.4f\t%s\n", interpreter, name, value, unit));
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

-- Microseconds per call: median over RUNS of run(), which returns the
-- number of calls it made (and, if it timed itself, the seconds they took);
-- setup() (untimed) runs before each.
local function measure(setup, run)
	local samples = {};
	for r = 1, RUNS + 1 do
		local state = setup and setup();
		collectgarbage();
		local start = clock();
		local calls, took = run(state);
		local elapsed = took or clock() - start;
		if r > 1 then -- the first run warms up (and lets LuaJIT compile)
			samples[#samples + 1] = elapsed * 1e6 / calls;
		end
	end
	return median(samples);
end

local seed, secret = token_auth.new_seed(), token_auth.new_secret();
assert(#seed == 32, "a 32-character seed");

local function mint(i, time)
	return token_auth.generate_token(USER, HOST, {
		otp_seed = seed; token_secret = secret; time = time; nonce = format("%032d", i);
	});
end

io.stderr:write(("verify.lua (%s): minting %d tokens\n"):format(interpreter, N));
local valid = {};
for i = 1, N do
	valid[i] = mint(i, T);
end
-- Correctly formed and signed tokens from an hour earlier: the OTP is wrong.
local stale = {};
-- Well-formed tokens whose signature belongs to another token.
local forged = {};
for i = 1, 1000 do
	stale[i] = mint(N + i, T - 3600);
	forged[i] = valid[i]:match("^%d+ ") .. valid[i + 1]:match(" (.+)$");
end

local config = { otp_seed = seed; token_secret = secret; replay_capacity = N; replay_per_user = N };
local function new_verifier()
	return assert(token_auth.new_verifier(config));
end

-- Sanity: every case gives the answer it is timed for.
do
	local v = new_verifier();
	assert(v:verify(USER, HOST, valid[1], T) == true);
	assert(select(2, v:verify(USER, HOST, valid[1], T)) == "replayed");
	assert(select(2, v:verify(USER, HOST, forged[1], T)) == "bad_signature");
	assert(select(2, v:verify(USER, HOST, stale[1], T)) == "otp_mismatch");
	assert(token_auth.verify_token(USER, HOST, valid[2], { otp_seed = seed; token_secret = secret; time = T }) == true);
	local check = pure_lua.new(seed, secret);
	assert(check(USER, HOST, valid[1], T) == true, "pure-Lua accepts a valid token");
	assert(select(2, check(USER, HOST, forged[1], T)) == "bad_signature");
	assert(select(2, check(USER, HOST, stale[1], T)) == "otp_mismatch");
end

io.stderr:write(("verify.lua (%s): timing\n"):format(interpreter));

-- The verifier: valid tokens (each fresh), then the same tokens replayed.
local replay_samples = {};
local valid_us = measure(new_verifier, function(verifier)
	local start = clock();
	for i = 1, N do
		if not verifier:verify(USER, HOST, valid[i], T) then
			error("a valid token was refused");
		end
	end
	local took = clock() - start;
	-- Replays, timed here on the same verifier (it remembers all N).
	start = clock();
	for i = 1, N do
		local ok, reason = verifier:verify(USER, HOST, valid[i], T);
		if ok or reason ~= "replayed" then
			error("a replay was not refused");
		end
	end
	replay_samples[#replay_samples + 1] = (clock() - start) * 1e6 / N;
	return N, took;
end);
table.remove(replay_samples, 1); -- the warm-up run
emit("verifier_valid", valid_us, "us");
emit("verifier_replayed", median(replay_samples), "us");

local function refused_loop(tokens, want)
	local count = #tokens;
	return function(verifier)
		for i = 1, N do
			local ok, reason = verifier:verify(USER, HOST, tokens[i % count + 1], T);
			if ok or reason ~= want then
				error("expected " .. want);
			end
		end
		return N;
	end;
end
emit("verifier_bad_signature", measure(new_verifier, refused_loop(forged, "bad_signature")), "us");
emit("verifier_otp_mismatch", measure(new_verifier, refused_loop(stale, "otp_mismatch")), "us");

-- The one-shot, stateless verify_token: the config table is read, the seed
-- decoded and the HMACs keyed on every call.
local one_shot = { otp_seed = seed; token_secret = secret; time = T };
local verify_token = token_auth.verify_token;
emit("verify_token_valid", measure(nil, function()
	for i = 1, N_SLOW do
		if not verify_token(USER, HOST, valid[i], one_shot) then
			error("a valid token was refused");
		end
	end
	return N_SLOW;
end), "us");

-- An empty Lua -> C method call of the same shape (bench/empty_call.c).
emit("empty_c_call", measure(empty_call.new, function(object)
	for i = 1, N do
		if not object:verify(USER, HOST, valid[i], T) then
			error("unreachable");
		end
	end
	return N;
end), "us");

-- The pure-Lua way.
local check = pure_lua.new(seed, secret);
local function pure_loop(tokens, want)
	local count = #tokens;
	return function()
		for i = 1, N_SLOW do
			local ok, reason = check(USER, HOST, tokens[(i - 1) % count + 1], T);
			if (ok or reason) ~= want then
				error("pure-Lua: expected " .. tostring(want));
			end
		end
		return N_SLOW;
	end;
end
emit("pure_lua_valid", measure(nil, pure_loop(valid, true)), "us");
emit("pure_lua_bad_signature", measure(nil, pure_loop(forged, "bad_signature")), "us");
emit("pure_lua_otp_mismatch", measure(nil, pure_loop(stale, "otp_mismatch")), "us");
io.stderr:write(("verify.lua (%s): pure-Lua base64 decoder: %s\n"):format(interpreter, pure_lua.base64_decoder));
