-- JWT verification per algorithm (`make bench`, after the other pieces):
-- from Lua 5.4 through token_auth, beside the crate's bare verify
-- (examples/bench_jwt.rs, run from here: same run, same tokens) and beside
-- the classic token's verify. Tokens are made by PyJWT (spec/jwt/issue.py)
-- with fresh keys; reuse is allowed (jwt_single_use = false) so that one
-- token per algorithm measures the verification alone.
--
--   lua5.4 bench/jwt.lua [--quick]     (repository root, after make build-lua54)
--
-- Prints `name<TAB>value<TAB>unit` lines (microseconds per call, medians of
-- CPU time) and then a Markdown table.

package.cpath = "build/lua54/?.so;" .. package.cpath;
local token_auth = require "token_auth";
local shell = require "spec.support.shell";
local issuers = require "spec.support.jwt_issuers";

local quick = arg[1] == "--quick";
local RUNS = quick and 3 or 7;
local NOW = 1700000000;
local SECRET = "an HMAC secret of sixty-four bytes for HS512 JWTs, nothing less!!";
local clock, format = os.clock, string.format;

local function median(values)
	table.sort(values);
	return values[math.floor(#values / 2) + 1];
end

-- Microseconds per call of f, median over RUNS (after one warm-up).
local function measure(calls, f)
	local samples = {};
	for r = 1, RUNS + 1 do
		collectgarbage();
		local start = clock();
		for _ = 1, calls do
			f();
		end
		if r > 1 then
			samples[#samples + 1] = (clock() - start) * 1e6 / calls;
		end
	end
	return median(samples);
end

local function emit(name, value)
	io.write(format("%s\t%.3f\tus\n", name, value));
	io.flush();
end

local dir = shell.temp_dir("token-auth-bench-jwt");
local requests = {};
for _, alg in ipairs(issuers.ALL) do
	requests[#requests + 1] = { name = alg, alg = alg, signer = alg:match("^HS") and "secret" or "key",
		claims = format('{"sub":"alice","exp":%d,"iat":%d,"iss":"https://issuer.test","aud":"xmpp","jti":"%s"}',
			NOW + 300, NOW, alg) };
end
io.stderr:write("jwt.lua: minting with PyJWT\n");
local tokens = issuers.issue("py", dir, SECRET, requests);
local lines = {};
for _, alg in ipairs(issuers.ALL) do
	lines[#lines + 1] = alg .. "\t" .. tokens[alg];
end
shell.write_file(dir .. "/tokens.tsv", table.concat(lines, "\n") .. "\n");

io.stderr:write("jwt.lua: the crate's bare verify (examples/bench_jwt.rs)\n");
local rust = {};
local out = shell.capture(("cargo run --quiet --release --example bench_jwt -- %s %s %s"):format(
	shell.quote(dir), shell.quote(SECRET), quick and "--quick" or ""));
for alg, value in out:gmatch("rust_jwt_(%S+)\t([%d.]+)\tus") do
	rust[alg] = tonumber(value);
	emit("rust_jwt_" .. alg, rust[alg]);
end

io.stderr:write("jwt.lua: from Lua 5.4\n");
local claims_api, login_api = {}, {};
for _, alg in ipairs(issuers.ALL) do
	local config = { jwt_single_use = false };
	if alg:match("^HS") then
		config.jwt_secret, config.jwt_secret_algorithm = SECRET, alg;
	else
		config.jwt_keys = dir .. "/py.jwks.json";
	end
	local token = tokens[alg];
	local jwt_verifier = assert(token_auth.new_jwt_verifier(config));
	local verifier = assert(token_auth.new_verifier(config));
	assert(jwt_verifier:verify(token, NOW).sub == "alice", alg);
	assert(verifier:verify("alice", "example.com", token, NOW) == true, alg);
	local calls = alg:match("^HS") and 20000 or alg:match("^[RP]S") and 3000 or 1000;
	calls = quick and calls // 5 or calls;
	claims_api[alg] = measure(calls, function() jwt_verifier:verify(token, NOW); end);
	login_api[alg] = measure(calls, function() verifier:verify("alice", "example.com", token, NOW); end);
	emit("lua54_jwt_claims_" .. alg, claims_api[alg]);
	emit("lua54_jwt_login_" .. alg, login_api[alg]);
end

-- The classic token, fresh ones (its replay cache refuses repeats).
local seed, secret = token_auth.new_seed(), token_auth.new_secret();
local T = NOW - NOW % 30;
local N = quick and 4000 or 20000;
local classic = {};
for i = 1, N do
	classic[i] = token_auth.generate_token("alice", "example.com",
		{ otp_seed = seed; token_secret = secret; time = T; nonce = format("%032d", i) });
end
local samples = {};
for r = 1, RUNS + 1 do
	local v = assert(token_auth.new_verifier({ otp_seed = seed; token_secret = secret;
		replay_capacity = N; replay_per_user = N }));
	collectgarbage();
	local start = clock();
	for i = 1, N do
		v:verify("alice", "example.com", classic[i], T);
	end
	if r > 1 then samples[#samples + 1] = (clock() - start) * 1e6 / N; end
end
local classic_us = median(samples);
emit("lua54_classic_verify", classic_us);
os.execute("rm -rf " .. shell.quote(dir));

print();
print("| algorithm | crate `Jwt::verify_claims` (µs) | Lua `jwt_verifier:verify` → claims (µs) "
	.. "| Lua `verifier:verify` login (µs) | × the classic token |");
print("| --- | --- | --- | --- | --- |");
for _, alg in ipairs(issuers.ALL) do
	print(format("| %s | %.2f | %.2f | %.2f | %.1f |", alg, rust[alg] or 0 / 0, claims_api[alg], login_api[alg],
		login_api[alg] / classic_us));
end
print(format("| classic token (`verifier:verify`, fresh tokens, replay cache) | | | %.2f | 1.0 |", classic_us));
