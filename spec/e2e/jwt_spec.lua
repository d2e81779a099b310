-- End to end with JWTs: a real Prosody (0.12, or the 13 that
-- TOKEN_AUTH_PROSODY names) with mod_auth_token, real XMPP clients (slixmpp:
-- PLAIN, X-TOKEN, and OAUTHBEARER where Prosody's util.sasl has it), tokens
-- minted at run time by PyJWT and jose, and a JWKS served over HTTP by a local
-- server whose keys rotate during the test.
-- Run from the repository root:  lua5.4 /usr/bin/busted --run=e2e spec/e2e/jwt_spec.lua

local prosody = require "spec.support.prosody";
local shell = require "spec.support.shell";
local issuers = require "spec.support.jwt_issuers";
local INSTALLED = prosody.installed_version() or "?";
local IS_13 = tonumber(INSTALLED:match("^(%d+)%.") or 0) >= 13;

describe("Prosody with JWTs #e2e", function()
	local socket = require "socket";
	local HOST, FILE_HOST, REFRESH_HOST = "idp.test", "file.test", "refresh.test";
	local REFRESH_EVERY = 10; -- token_jwt_keys_refresh's least value
	local ISSUER = "https://issuer.test/realms/chat";
	local SECRET = "an HMAC secret of sixty-four bytes for HS512 JWTs, nothing less!!";
	local SEED = prosody.random_base32();
	local CLASSIC_SECRET = prosody.random_base32();

	local server, http_pid, dir, served, started_at, refresh_url, refresh_swapped_at;
	local py, jose = {}, {};

	local function claims(fields)
		local now = os.time();
		local base = { sub = "alice", exp = now + 300, iat = now, iss = ISSUER, aud = "xmpp" };
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

	local function login(user, token, mech, host, extra)
		local opts = { jid = user .. "@" .. (host or HOST), mech = mech or "PLAIN", password = token };
		for k, v in pairs(extra or {}) do opts[k] = v; end
		return server:login(opts);
	end

	local function logged_during(f)
		local before = #server:log();
		local result = f();
		return server:log():sub(before + 1), result;
	end

	local function assert_bound(answer, user, host)
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert.matches("^" .. user .. "@" .. (host or HOST):gsub("%p", "%%%0") .. "/.+", answer.jid);
	end

	-- Refused with a clean SASL failure, the reason in the log.
	local function assert_refused(f, reason, condition)
		local log, answer = logged_during(f);
		assert.is_false(answer.ok);
		assert.equal(condition or "not-authorized", answer.condition, reason .. ": " .. tostring(answer.text));
		assert.equal(0, answer.exit_status);
		assert.matches("via %u[%u-]*: " .. reason .. "%f[^%w_]", log);
	end

	local function serve(file)
		os.execute(("cp %s %s"):format(shell.quote(file), shell.quote(served .. "/jwks.json")));
	end

	local function count_in_log(text)
		local count, at = 0, 1;
		local log = server:log();
		while true do
			local found = log:find(text, at, true);
			if not found then return count; end
			count, at = count + 1, found + #text;
		end
	end

	-- Waits until `text` is in the log `times` times (default once).
	local function wait_for_log(text, timeout, times)
		local deadline = socket.gettime() + (timeout or 10);
		while socket.gettime() < deadline do
			if count_in_log(text) >= (times or 1) then return true; end
			socket.sleep(0.1);
		end
		return false;
	end

	setup(function()
		dir = shell.temp_dir("token-auth-jwt-e2e");
		served = dir .. "/www";
		os.execute("mkdir -p " .. shell.quote(served));
		local function requests(tool)
			local kid = tool .. "-";
			local list = {};
			for _, alg in ipairs(issuers.ALL) do
				list[#list + 1] = { name = "ok-" .. alg, alg = alg, claims = claims({ jti = kid .. alg }),
					signer = alg:match("^HS") and "secret" or "key" };
			end
			local function add(name, fields, extra)
				local r = { name = name, alg = "ES256", claims = claims(fields), signer = "key" };
				for k, v in pairs(extra or {}) do r[k] = v; end
				list[#list + 1] = r;
			end
			add("bearer", { sub = "carol@" .. HOST, jti = kid .. "bearer" });
			add("plain", { jti = kid .. "plain" });
			add("xtoken", { jti = kid .. "xtoken" });
			add("expired", { exp = os.time() - 120, iat = os.time() - 600 });
			add("wrong-aud", { aud = "other" });
			add("bob", { sub = "bob" });
			add("other-host", { sub = "alice@elsewhere.test" });
			add("after-rotation", { jti = kid .. "after" });
			add("issuer-down", { jti = kid .. "down" });
			add("file", { jti = kid .. "file" }, { alg = "EdDSA" });
			add("sasl2", { jti = kid .. "sasl2" });
			add("dave", { sub = "dave", jti = kid .. "dave" });
			add("refreshed", { jti = kid .. "refreshed" });
			if tool == "py" then
				add("none", {}, { alg = "none", signer = "none" });
				add("confusion", {}, { alg = "HS256", signer = "confusion", header = '{"kid":"py-RS256"}' });
			end
			return list;
		end
		py = issuers.issue("py", dir, SECRET, requests("py"));
		jose = issuers.issue("jose", dir, SECRET, requests("jose"));
		serve(dir .. "/py.jwks.json");
		os.execute(("cp %s %s"):format(shell.quote(dir .. "/py.jwks.json"), shell.quote(served .. "/refresh.json")));

		local port = shell.free_port();
		refresh_url = ("http://127.0.0.1:%d/refresh.json"):format(port);
		http_pid = tonumber(shell.capture(("cd %s && exec python3 -m http.server %d --bind 127.0.0.1 >%s 2>&1 & echo $!")
			:format(shell.quote(served), port, shell.quote(dir .. "/http.log"))):match("%d+"));
		local deadline = socket.gettime() + 10;
		while not shell.port_open(port) and socket.gettime() < deadline do socket.sleep(0.05); end
		assert.is_true(shell.port_open(port), "the JWKS server did not start");

		started_at = socket.gettime();
		server = assert(prosody.start({
			hosts = { HOST, FILE_HOST, REFRESH_HOST },
			modules = IS_13 and { "admin_shell"; "admin_socket"; "sasl2"; "sasl2_bind2"; "sasl2_fast" }
				or { "admin_shell"; "admin_socket" },
			options = { allow_unencrypted_plain_auth = true };
			host_options = {
				[HOST] = {
					token_jwt_keys_url = ("http://127.0.0.1:%d/jwks.json"):format(port);
					token_jwt_secret = SECRET;
					token_jwt_issuer = ISSUER;
					token_jwt_audience = "xmpp";
				};
				-- Both formats on one host: the classic options and a JWKS file.
				[FILE_HOST] = {
					otp_seed = SEED;
					token_secret = CLASSIC_SECRET;
					token_jwt_keys = dir .. "/jose.jwks.json";
				};
				-- Fetched at load and then every REFRESH_EVERY seconds; no
				-- token for this host names a kid it does not know before
				-- the refresh test.
				[REFRESH_HOST] = {
					token_jwt_keys_url = refresh_url;
					token_jwt_keys_refresh = REFRESH_EVERY;
					token_jwt_issuer = ISSUER;
					token_jwt_audience = "xmpp";
				};
			};
		}));
		assert.is_true(wait_for_log("JWT keys from http://127.0.0.1:" .. port .. "/jwks.json", 10),
			"the first fetch did not happen");
		assert.is_true(wait_for_log("JWT keys from " .. refresh_url .. ":", 10), "the first fetch did not happen");
		-- The issuer rotates right after the first fetch: only the periodic
		-- refresh can bring jose's keys to REFRESH_HOST (the other tests run
		-- meanwhile).
		os.execute(("cp %s %s"):format(shell.quote(dir .. "/jose.jwks.json"), shell.quote(served .. "/refresh.json")));
		refresh_swapped_at = socket.gettime();
	end);

	teardown(function()
		if server then server:stop(); end
		if http_pid then os.execute("kill " .. http_pid .. " 2>/dev/null"); end
		if dir then os.execute("rm -rf " .. shell.quote(dir)); end
	end);

	it("runs the Prosody it was asked for, " .. INSTALLED, function()
		assert.equal(INSTALLED, server.version);
	end);

	it("logs in with a JWT over PLAIN and X-TOKEN, once each", function()
		local log = logged_during(function()
			assert_bound(login("alice", py.plain), "alice");
		end);
		assert.matches("Token accepted for alice@idp.test via PLAIN", log, 1, true);
		assert_bound(login("alice", py.xtoken, "X-TOKEN"), "alice");
		assert_refused(function() return login("alice", py.plain); end, "replayed");
	end);

	it("takes every algorithm from the served JWKS and the configured secret", function()
		for _, alg in ipairs(issuers.ALL) do
			if not alg:match("^HS") or alg == "HS256" then
				assert_bound(login("alice", py["ok-" .. alg]), "alice");
			end
		end
	end);

	it("refuses bad JWTs with their reasons, and keeps serving", function()
		assert_refused(function() return login("alice", py.expired); end, "jwt_expired");
		assert_refused(function() return login("alice", py["wrong-aud"]); end, "jwt_audience");
		assert_refused(function() return login("alice", py.bob); end, "jwt_wrong_user");
		assert_refused(function() return login("alice", py["other-host"]); end, "jwt_wrong_host");
		assert_refused(function() return login("alice", py.none); end, "jwt_alg_none");
		-- The RSA public key as an HMAC secret: this host has a secret, so the
		-- forgery meets it and fails.
		assert_refused(function() return login("alice", py.confusion); end, "jwt_bad_signature");
		assert_refused(function() return login("alice", "a.b"); end, "jwt_malformed");
		assert_refused(function() return login("alice", string.rep("e", 17000) .. ".e30.c2ln", "X-TOKEN"); end,
			"jwt_too_large", "malformed-request");
		assert_refused(function() return login("alice", py["ok-HS384"]); end, "jwt_no_key_for_alg");
		assert_bound(login("alice", jose["ok-HS256"]), "alice"); -- the same secret, another issuer
	end);

	it("speaks OAUTHBEARER where Prosody does (13), the user named by the token", function()
		if not IS_13 then
			local answer = login("carol", py.bearer, "OAUTHBEARER");
			assert.same({ false, "mechanism-not-offered" }, { answer.ok, answer.condition });
			return;
		end
		local log = logged_during(function()
			assert_bound(login("carol", py.bearer, "OAUTHBEARER"), "carol");
		end);
		assert.matches("Token accepted for carol@idp.test via OAUTHBEARER", log, 1, true);
		assert_refused(function() return login("carol", py.bearer, "OAUTHBEARER"); end, "replayed");
		assert_refused(function() return login("carol", py.expired, "OAUTHBEARER"); end, "jwt_expired");
	end);

	it("goes through SASL2 (13) and the account states like any token", function()
		if IS_13 then
			local answer = server:sasl2_login({ jid = "alice@" .. HOST, mech = "X-TOKEN", password = py.sasl2 });
			assert_bound(answer, "alice");
			assert.is_true(answer.bound);
		end
		-- A disabled account's valid JWT: account-disabled, logged as such.
		-- Known users (the default): an admin registers dave before disabling him.
		local registered, registered_status = server:prosodyctl("register", "dave", HOST, "unused-password");
		assert.equal(0, registered_status, registered);
		local command = IS_13 and ("user:disable(%q)"):format("dave@" .. HOST)
			or (">prosody.hosts[%q].users.disable(%q)"):format(HOST, "dave");
		local out, status = server:prosodyctl("shell", command);
		assert.equal(0, status, out);
		assert_refused(function() return login("dave", py.dave); end, "account_disabled", "account-disabled");
	end);

	it("fetches the key set again every token_jwt_keys_refresh seconds, with no login asking", function()
		local fetched = "JWT keys from " .. refresh_url .. ": 9 keys";
		local waited = socket.gettime() - refresh_swapped_at;
		assert.is_true(wait_for_log(fetched, REFRESH_EVERY + 5 - waited, 2),
			"no second fetch within " .. (REFRESH_EVERY + 5) .. " s of the first");
		assert.is_true(socket.gettime() - refresh_swapped_at <= REFRESH_EVERY + 5);
		local log = logged_during(function()
			assert_bound(login("alice", jose.refreshed, "PLAIN", REFRESH_HOST), "alice", REFRESH_HOST);
		end);
		-- Logged in with the refreshed set: no fetch for an unknown kid.
		assert.is_nil(log:find(refresh_url, 1, true));
		assert_refused(function() return login("alice", py.refreshed, "PLAIN", REFRESH_HOST); end, "jwt_unknown_kid");
	end);

	it("follows the issuer's key rotation, and keeps the last good set while it is down", function()
		-- Rotate: jose's keys replace PyJWT's. A token with a new kid makes
		-- Prosody fetch again (at most once every 5 s) while the login waits.
		serve(dir .. "/jose.jwks.json");
		local since = socket.gettime() - started_at;
		if since < 5.2 then socket.sleep(5.2 - since); end
		local log = logged_during(function()
			assert_bound(login("alice", jose["after-rotation"]), "alice");
		end);
		assert.matches("JWT keys from http://127.0.0.1:%d+/jwks.json: 9 keys", log);
		assert_refused(function() return login("alice", py["after-rotation"]); end, "jwt_unknown_kid");
		-- The issuer goes away: the fetch fails, the last good set stays.
		os.execute("kill " .. http_pid);
		http_pid = nil;
		socket.sleep(5.2);
		log = logged_during(function()
			return assert_refused(function() return login("alice", py["issuer-down"]); end, "jwt_unknown_kid");
		end);
		assert.matches("keeping the last good set of 9 keys", log, 1, true);
		assert_bound(login("alice", jose["issuer-down"]), "alice");
	end);

	it("takes both formats on one host, keys from a file", function()
		assert_bound(login("alice", jose.file, "PLAIN", FILE_HOST), "alice", FILE_HOST);
		local classic = prosody.mint({ user = "alice", host = FILE_HOST, seed = SEED, secret = CLASSIC_SECRET });
		assert_bound(login("alice", classic, "X-TOKEN", FILE_HOST), "alice", FILE_HOST);
		assert_refused(function() return login("alice", py.file, "PLAIN", FILE_HOST); end, "jwt_unknown_kid");
		-- The file is read again when the module reloads.
		os.execute(("cp %s %s"):format(shell.quote(dir .. "/py.jwks.json"), shell.quote(dir .. "/jose.jwks.json")));
		local out, status = server:prosodyctl("shell", ("module:reload(%q, %q)"):format("auth_token", FILE_HOST));
		assert.equal(0, status, out);
		assert_bound(login("alice", py.file, "PLAIN", FILE_HOST), "alice", FILE_HOST);
	end);

	it("never logs a token", function()
		local log = server:log();
		for _, set in ipairs({ py, jose }) do
			for name, token in pairs(set) do
				assert.is_nil(log:find(token, 1, true), name);
			end
		end
		assert.is_nil(log:find(SECRET, 1, true));
	end);
end);
