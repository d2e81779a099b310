-- JWTs through the native module, minted at run time by two independent
-- issuers (PyJWT and Node's jose) for every algorithm. Tagged "jwt": it
-- runs once, under Lua 5.4, with its own tally (scripts/test).

local shell = require "spec.support.shell";
local issuers = require "spec.support.jwt_issuers";

local NOW = 1700000000;
local SECRET = "an HMAC secret of sixty-four bytes for HS512 JWTs, nothing less!!";
local ISSUER = "https://issuer.test/realms/chat";

local function claims(fields)
	local base = { sub = "alice", exp = NOW + 300, iat = NOW, iss = ISSUER, aud = "xmpp" };
	for k, v in pairs(fields or {}) do
		base[k] = v ~= false and v or nil;
	end
	local parts = {};
	for _, k in ipairs(shell.sorted_keys(base)) do
		local v = base[k];
		parts[#parts + 1] = ("%q:%s"):format(k, type(v) == "string" and ("%q"):format(v) or tostring(v));
	end
	return "{" .. table.concat(parts, ",") .. "}";
end

describe("JWTs from PyJWT and jose #jwt", function()
	local token_auth = require "token_auth";
	local dir, tokens = nil, {};

	lazy_setup(function()
		assert.is_true(#SECRET >= 64);
		dir = shell.temp_dir("token-auth-jwt");
		for _, tool in ipairs({ "py", "jose" }) do
			local requests = {};
			for _, alg in ipairs(issuers.ALL) do
				requests[#requests + 1] = { name = "ok-" .. alg, alg = alg,
					claims = claims({ jti = tool .. "-" .. alg }),
					signer = alg:match("^HS") and "secret" or "key" };
			end
			local function add(name, fields, extra)
				local r = { name = name, alg = "ES256", claims = claims(fields), signer = "key" };
				for k, v in pairs(extra or {}) do r[k] = v; end
				requests[#requests + 1] = r;
			end
			add("expired", { exp = NOW - 61, iat = NOW - 300 });
			add("in-leeway", { exp = NOW - 59, iat = NOW - 300 });
			add("not-yet", { nbf = NOW + 200 });
			add("future-iat", { iat = NOW + 200, exp = NOW + 400 });
			add("no-exp", { exp = false });
			add("long-life", { exp = NOW + 90000 });
			add("wrong-iss", { iss = "https://evil.test" });
			add("wrong-aud", { aud = "other" });
			add("bob", { sub = "bob" });
			add("bare-jid", { sub = "Alice@Example.COM" });
			add("other-host", { sub = "alice@example.org" });
			add("no-jti-a", { jti = false });
			add("same-jti-1", { jti = "shared" });
			add("same-jti-2", { jti = "shared", exp = NOW + 301 });
			add("stranger", {}, { signer = "stranger" });
			add("unknown-kid", {}, { header = '{"kid":"nope"}' });
			add("rs256", {}, { alg = "RS256" });
			if tool == "py" then
				add("none", {}, { alg = "none", signer = "none" });
				add("confusion", {}, { alg = "HS256", signer = "confusion", header = '{"kid":"py-RS256"}' });
			end
			tokens[tool] = issuers.issue(tool, dir, SECRET, requests);
		end
	end);

	lazy_teardown(function()
		if dir then os.execute("rm -rf " .. shell.quote(dir)); end
	end);

	local function verifier_for(tool, alg, extra)
		local config = { jwt_issuer = ISSUER, jwt_audience = "xmpp" };
		if alg:match("^HS") then
			config.jwt_secret, config.jwt_secret_algorithm = SECRET, alg;
		else
			config.jwt_keys = dir .. "/" .. tool .. ".jwks.json";
		end
		for k, v in pairs(extra or {}) do config[k] = v; end
		return assert(token_auth.new_jwt_verifier(config));
	end

	for _, tool in ipairs({ "py", "jose" }) do
		describe(tool == "py" and "PyJWT" or "jose", function()
			it("verifies every algorithm, once, and returns the claims", function()
				for _, alg in ipairs(issuers.ALL) do
					local v = verifier_for(tool, alg);
					local token = tokens[tool]["ok-" .. alg];
					local got, reason = v:verify(token, NOW);
					assert.is_nil(reason, alg);
					assert.same({ sub = "alice", exp = NOW + 300, iat = NOW, iss = ISSUER, aud = "xmpp",
						jti = tool .. "-" .. alg }, got, alg);
					assert.equal(math.type and "integer" or "number", math.type and math.type(got.exp) or type(got.exp));
					assert.same({ nil, "replayed" }, { v:verify(token, NOW + 1) }, alg);
				end
			end);

			it("refuses each bad token with its reason", function()
				local v = verifier_for(tool, "ES256");
				for name, reason in pairs({
					expired = "jwt_expired", ["not-yet"] = "jwt_not_yet_valid",
					["future-iat"] = "jwt_issued_in_future", ["no-exp"] = "jwt_missing_exp",
					["long-life"] = "jwt_lifetime_too_long", ["wrong-iss"] = "jwt_issuer",
					["wrong-aud"] = "jwt_audience", stranger = "jwt_bad_signature",
					["unknown-kid"] = "jwt_unknown_kid",
				}) do
					assert.same({ nil, reason }, { v:verify(tokens[tool][name], NOW) }, name);
				end
				assert.equal("alice", (v:verify(tokens[tool]["in-leeway"], NOW)).sub);
				-- A key serves its own algorithm only: an ES256 verifier has no RS256 key.
				local es_only = verifier_for(tool, "ES256", { jwt_algorithms = { "ES256" } });
				assert.same({ nil, "jwt_alg_not_allowed" }, { es_only:verify(tokens[tool].rs256, NOW) });
			end);

			it("checks the user on a login: another user's sub, a bare JID, another host", function()
				local v = assert(token_auth.new_verifier({ jwt_keys = dir .. "/" .. tool .. ".jwks.json" }));
				assert.same({ nil, "jwt_wrong_user" }, { v:verify("alice", "example.com", tokens[tool].bob, NOW) });
				assert.same({ true }, { v:verify("bob", "example.com", tokens[tool].bob, NOW) });
				assert.same({ true }, { v:verify("alice", "example.com", tokens[tool]["bare-jid"], NOW) });
				assert.same({ nil, "jwt_wrong_host" },
					{ v:verify("alice", "example.com", tokens[tool]["other-host"], NOW) });
			end);

			it("remembers a JWT by its jti, else by its signature; single use can be turned off", function()
				local v = verifier_for(tool, "ES256");
				assert.truthy(v:verify(tokens[tool]["same-jti-1"], NOW));
				assert.same({ nil, "replayed" }, { v:verify(tokens[tool]["same-jti-2"], NOW) });
				assert.truthy(v:verify(tokens[tool]["no-jti-a"], NOW));
				assert.same({ nil, "replayed" }, { v:verify(tokens[tool]["no-jti-a"], NOW) });
				local reusable = verifier_for(tool, "ES256", { jwt_single_use = false });
				for t = NOW, NOW + 300, 150 do
					assert.truthy(reusable:verify(tokens[tool]["no-jti-a"], t), t);
				end
				assert.same({ nil, "jwt_expired" }, { reusable:verify(tokens[tool]["no-jti-a"], NOW + 360) });
			end);
		end);
	end

	it("refuses alg none and algorithm confusion (HS256 keyed with the RSA public key)", function()
		local v = verifier_for("py", "RS256");
		assert.same({ nil, "jwt_alg_none" }, { v:verify(tokens.py.none, NOW) });
		assert.same({ nil, "jwt_no_key_for_alg" }, { v:verify(tokens.py.confusion, NOW) });
		-- With HMAC secrets configured too, the forgery still fails: wrong secret.
		local both = verifier_for("py", "RS256", { jwt_secret = SECRET });
		assert.same({ nil, "jwt_bad_signature" }, { both:verify(tokens.py.confusion, NOW) });
		local rs_only = verifier_for("py", "RS256", { jwt_algorithms = { "RS256", "ES256" } });
		assert.same({ nil, "jwt_alg_not_allowed" }, { rs_only:verify(tokens.py.confusion, NOW) });
	end);

	it("takes keys at run time: a key removed from the set, PEM files, bad sets kept out", function()
		local v = verifier_for("py", "RS256", { jwt_single_use = false });
		assert.truthy(v:verify(tokens.py["ok-RS256"], NOW));
		local keys = v:keys();
		assert.equal(9, #keys);
		assert.same({ kid = "py-RS256", alg = "RS256" }, keys[1]);
		assert.same({ true }, { v:set_keys(dir .. "/py.jwks.minus.json") });
		assert.same({ nil, "jwt_unknown_kid" }, { v:verify(tokens.py["ok-RS256"], NOW) });
		assert.truthy(v:verify(tokens.py["ok-PS256"], NOW));
		-- A bad set is refused and the last good one kept.
		local ok, err = v:set_keys('{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}');
		assert.is_nil(ok);
		assert.matches("^jwt_keys: key 1: is an HMAC", err);
		assert.truthy(v:verify(tokens.py["ok-PS256"], NOW));
		-- PEM keys have no kid: they serve any kid of their algorithm.
		local pem = assert(token_auth.new_jwt_verifier({ jwt_keys = dir .. "/py-ES256.pem" }));
		assert.equal("alice", (pem:verify(tokens.py["ok-ES256"], NOW)).sub);
		assert.same({ nil, "jwt_bad_signature" }, { pem:verify(tokens.jose["ok-ES256"], NOW) });
		local text = assert(shell.read_file(dir .. "/py-RS256.pem"));
		local from_text = assert(token_auth.new_jwt_verifier({ jwt_keys = text }));
		assert.equal("alice", (from_text:verify(tokens.py["ok-RS256"], NOW)).sub);
	end);

	it("refuses huge and malformed tokens and keeps working", function()
		local v = verifier_for("jose", "ES256");
		local good = tokens.jose["ok-ES256"];
		local header, payload, signature = good:match("^([^.]+)%.([^.]+)%.([^.]+)$");
		for token, reason in pairs({
			[string.rep("a", 20000) .. ".b.c"] = "jwt_too_large",
			[header .. "." .. string.rep("e", 17000) .. "." .. signature] = "jwt_too_large",
			["a.b"] = "jwt_malformed",
			[good .. ".x"] = "jwt_malformed",
			[header .. ".." .. signature] = "jwt_malformed",
			[header .. "=." .. payload .. "." .. signature] = "jwt_bad_encoding",
			[header .. "." .. payload .. "." .. signature .. "=="] = "jwt_bad_encoding",
			["e30." .. payload .. "." .. signature] = "jwt_bad_header",
			["\0.\1.\2"] = "jwt_bad_encoding",
			[header .. ".eyJzdWIiOiJib2IifQ." .. signature] = "jwt_bad_signature",
		}) do
			assert.same({ nil, reason }, { v:verify(token, NOW) }, token:sub(1, 40));
		end
		assert.truthy(v:verify(good, NOW));
	end);

	it("takes both formats on one verifier", function()
		local config = { otp_seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", token_secret = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" };
		local classic = token_auth.generate_token("alice", "example.com", { otp_seed = config.otp_seed,
			token_secret = config.token_secret, time = NOW });
		config.jwt_keys = dir .. "/jose.jwks.json";
		local v = assert(token_auth.new_verifier(config));
		assert.same({ true }, { v:verify("alice", "example.com", classic, NOW) });
		assert.same({ true }, { v:verify("alice", "example.com", tokens.jose["ok-EdDSA"], NOW) });
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", tokens.jose["ok-EdDSA"], NOW) });
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", classic, NOW) });
		assert.equal(9, #v:jwt_keys());
		assert.same({ true }, { v:set_jwt_keys(dir .. "/py.jwks.json") });
		assert.same({ nil, "jwt_unknown_kid" }, { v:verify("alice", "example.com", tokens.jose["ok-ES384"], NOW) });
	end);

	it("token-auth check explains JWTs; extauth takes them beside the classic tokens", function()
		local lua, build = shell.interpreter();
		local cpath = shell.repo_root() .. "/build/" .. build .. "/?.so;;";
		local function cli(args, input, stderr)
			local command = ("LUA_CPATH=%s %s bin/token-auth %s"):format(shell.quote(cpath), lua, args);
			if input then
				shell.write_file(dir .. "/stdin", input);
				command = command .. " < " .. shell.quote(dir .. "/stdin");
			end
			local out, status = shell.capture(command .. " " .. (stderr or "2>&1") .. "; echo \"exit=$?\"");
			return out, tonumber(out:match("exit=(%d+)%s*$")), status;
		end
		local config = dir .. "/jwt.cfg.lua";
		shell.write_file(config, ('VirtualHost "example.com"\n\ttoken_jwt_keys = %q\n'):format(dir .. "/py.jwks.json"));
		-- check runs at the real time: the tokens were made for NOW, long gone.
		local out, code = cli(("check --config %s --jid alice@example.com --time %d %s"):format(
			shell.quote(config), NOW, tokens.py["ok-ES384"]));
		assert.equal(0, code, out);
		assert.matches("OK: the JWT verifies for alice@example.com (alg ES384, kid py-ES384).", out, 1, true);
		out, code = cli(("check --config %s --jid alice@example.com %s"):format(shell.quote(config),
			tokens.py["ok-ES384"]));
		assert.equal(1, code, out);
		assert.matches("NOT VALID (jwt_expired)", out, 1, true);
		assert.matches("exp 2023-11-14 22:18:20 UTC", out, 1, true);
		out, code = cli(("check --config %s --jid bob@example.com --time %d -"):format(shell.quote(config), NOW),
			tokens.py["ok-RS256"] .. "\n");
		assert.equal(1, code, out);
		assert.matches("NOT VALID (jwt_wrong_user)", out, 1, true);
		assert.is_nil(out:find(tokens.py["ok-RS256"], 1, true));
		-- Keys from a URL are the server's to fetch: check says how to pass them.
		local by_url = dir .. "/url.cfg.lua";
		shell.write_file(by_url, 'VirtualHost "example.com"\n\ttoken_jwt_keys_url = "https://reader:s3cret@idp.test/jwks"\n');
		out, code = cli(("check --config %s --jid alice@example.com --time %d %s"):format(shell.quote(by_url), NOW,
			tokens.py["ok-ES384"]));
		assert.equal(1, code, out);
		assert.matches("NOT VALID (jwt_unknown_kid)", out, 1, true);
		assert.matches("does not fetch token_jwt_keys_url. Download it and pass it: curl -fsS https://idp.test/jwks"
			.. " -o jwks.json; token-auth check --jwks jwks.json", out, 1, true);
		assert.not_matches("s3cret", out, 1, true); -- the URL's password is never printed
		out, code = cli(("check --config %s --jwks %s --jid alice@example.com --time %d %s"):format(shell.quote(by_url),
			shell.quote(dir .. "/py.jwks.json"), NOW, tokens.py["ok-ES384"]));
		assert.equal(0, code, out);
		assert.matches("OK: the JWT verifies for alice@example.com (alg ES384, kid py-ES384).", out, 1, true);
		out, code = cli(("check --config %s --jwks %s --jid alice@example.com --time %d %s"):format(shell.quote(by_url),
			shell.quote(dir .. "/jose.jwks.json"), NOW, tokens.py["ok-ES384"]));
		assert.equal(1, code, out);
		assert.matches("NOT VALID (jwt_unknown_kid)", out, 1, true);
		out, code = cli(("check --config %s --jwks %s --jid alice@example.com %s"):format(shell.quote(by_url),
			shell.quote(dir .. "/no-such.json"), tokens.py["ok-ES384"]));
		assert.equal(2, code, out);
		assert.matches("--jwks: " .. dir .. "/no-such.json: No such file or directory", out, 1, true);
		-- mint signs the classic format only: a JWT-only host is a configuration error.
		out, code = cli(("mint --config %s --jid alice@example.com"):format(shell.quote(by_url)));
		assert.equal(3, code, out);
		assert.matches("this host takes JWTs only, and mint makes tokens of the mod_auth_token format", out, 1, true);
		-- extauth: a host with both formats (a JWT-only host is the extauth rewrite's to serve).
		local both = dir .. "/both.cfg.lua";
		shell.write_file(both, ('VirtualHost "example.com"\n\ttoken_jwt_keys = %q\n\totp_seed = %q\n\ttoken_secret = %q\n'
			.. '\ttoken_jwt_max_lifetime = 31536000\n'):format(dir .. "/jose.jwks.json", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
			"JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7"));
		local fresh = issuers.issue("jose", dir, SECRET, { { name = "now", alg = "ES256",
			claims = ('{"sub":"alice","exp":%d}'):format(os.time() + 600) } }).now;
		out = cli(("extauth --config %s"):format(shell.quote(both)),
			("auth:alice:example.com:%s\nauth:alice:example.com:%s\nauth:bob:example.com:%s\n"):format(fresh, fresh, fresh),
			"2>/dev/null");
		assert.equal("1\n0\n0\n", out:match("^([01\n]*)"), out);
	end);

	it("refuses bad configurations and misuse as the other verifiers do", function()
		local v, problem, option, message = token_auth.new_jwt_verifier({});
		assert.same({ nil, "missing", "jwt_keys" }, { v, problem, option });
		assert.matches("^is not set", message);
		v, problem, option, message = token_auth.new_jwt_verifier({ jwt_secret = "tiny-secret" });
		assert.same({ nil, "too_weak", "jwt_secret" }, { v, problem, option });
		assert.not_matches("tiny", message); -- never the value
		v, problem, option, message = token_auth.new_jwt_verifier({ jwt_secret = SECRET, otp_seed = "JBSWY3DPEHPK3PXP" });
		assert.same({ nil, "unknown_option", "config" }, { v, problem, option });
		assert.matches("not JWT verifier options", message);
		v, problem, option, message = token_auth.new_jwt_verifier({ jwt_keys = "/nonexistent/jwks.json" });
		assert.same({ nil, "unreadable", "jwt_keys" }, { v, problem, option });
		assert.matches("cannot be read", message);
		v, problem, option, message = token_auth.new_jwt_verifier({ jwt_secret = SECRET, jwt_single_use = "yes" });
		assert.same({ nil, "wrong_type", "jwt_single_use" }, { v, problem, option });
		assert.matches("must be true or false", message);
		local ok = verifier_for("py", "HS256");
		assert.has_error(function() ok:verify({}) end);
		assert.has_error(function() ok:verify("a.b.c", -1) end);
		local plain = assert(token_auth.new_verifier({ otp_seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
			token_secret = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" }));
		assert.has_error(function() plain:set_jwt_keys("{}") end);
		assert.same({ nil, "malformed" }, { plain:verify("alice", "example.com", tokens.py["ok-HS256"], NOW) });
		for code, text in pairs(token_auth.reasons) do
			if code:match("^jwt_") then assert.is_true(#text > 10, code); end
		end
	end);
end);
