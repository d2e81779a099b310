-- End to end: a real Prosody (Debian's 0.12, or the 13 that TOKEN_AUTH_PROSODY
-- names, e.g. /opt/prosody-token-auth/prosody13/bin/prosody) with
-- lua/mod_auth_token.lua, lua/mod_sasl_token.lua and build/lua54/token_auth.so,
-- real XMPP clients (slixmpp over legacy SASL, X-TOKEN registered as a custom
-- mechanism; spec/support/sasl2_client.py over SASL2 with Bind2 and FAST on 13,
-- with Debian's mod_sasl2, mod_sasl2_bind2 and mod_sasl2_fast) and tokens minted
-- by pyotp + hmac as the README says. Prosody runs as users run it: TLS on (a
-- certificate made at test time, spec/support/tls.lua), c2s_require_encryption
-- at its default; the clients verify the certificate and log in over STARTTLS
-- or direct TLS; FAST re-logins bind to the TLS channel. Plain TCP is used only
-- to show what is refused before STARTTLS. Accounts are disabled and enabled
-- through `prosodyctl shell` (the admin socket).
-- Run from the repository root:  lua5.4 /usr/bin/busted --run=e2e   (or -t e2e)

local prosody = require "spec.support.prosody";
local INSTALLED = prosody.installed_version() or "?";
-- SASL2, FAST and usermanager's account API exist from Prosody 13 on.
local IS_13 = tonumber(INSTALLED:match("^(%d+)%.") or 0) >= 13;
local SASL2_MODULES = IS_13 and { "sasl2"; "sasl2_bind2"; "sasl2_fast" } or {};
local function with(list, more)
	local all = {};
	for _, l in ipairs({ list, more }) do
		for _, v in ipairs(l) do
			all[#all + 1] = v;
		end
	end
	return all;
end

describe("Prosody with the token plugins #e2e", function()
	local socket = require "socket";

	local SEED = prosody.random_base32();
	local SECRET = prosody.random_base32();
	local ROTATED_SECRET = prosody.random_base32();
	local HOST, OTHER_HOST, NO_PLAIN_HOST, FAST_HOST = "a.test", "b.test", "noplain.test", "fast.test";

	local server;
	local minted = {}; -- every token, to prove none of them reaches the log
	local fast_tokens = {}; -- and every FAST token Prosody gave

	local function mint(user, opts)
		opts = opts or {};
		local token = prosody.mint({
			user = user, host = opts.host or HOST, seed = opts.seed or SEED, secret = opts.secret or SECRET,
			time = opts.time, nonce = opts.nonce,
		});
		minted[#minted + 1] = token;
		return token;
	end

	-- A token from the previous step must still be in it when Prosody checks:
	-- stay clear of the last seconds of a step.
	local function away_from_step_end()
		local left = 30 - socket.gettime() % 30;
		if left < 3 then
			socket.sleep(left + 0.2);
		end
		return math.floor(socket.gettime());
	end

	local function login(user, token, mech, host)
		return server:login({ jid = user .. "@" .. (host or HOST), mech = mech or "X-TOKEN", password = token });
	end

	local function sasl2_login(user, token, mech, host, extra)
		local opts = { jid = user .. "@" .. (host or HOST), mech = mech or "X-TOKEN", password = token };
		for k, v in pairs(extra or {}) do
			opts[k] = v;
		end
		return server:sasl2_login(opts);
	end

	-- user:disable / user:enable through `prosodyctl shell` (the admin
	-- socket); 0.12's shell has no user:disable, so there the admin calls the
	-- provider as the README shows.
	local function account(action, user, host)
		host = host or HOST;
		local command = IS_13 and ("user:%s(%q)"):format(action, user .. "@" .. host)
			or (">prosody.hosts[%q].users.%s(%q)"):format(host, action, user);
		local out, status = server:prosodyctl("shell", command);
		assert.equal(0, status, out);
		assert.matches(IS_13 and ("User " .. action .. "d") or "Result: true", out, 1, true);
	end

	-- What Prosody logged while f ran.
	local function logged_during(f)
		local before = #server:log();
		local result = f();
		return server:log():sub(before + 1), result;
	end

	-- Every login here goes over TLS: 1.3 unless the client held it to 1.2.
	local function assert_bound(answer, user, host, tls_version)
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert.matches("^" .. user:gsub("%p", "%%%0") .. "@" .. (host or HOST):gsub("%p", "%%%0") .. "/.+", answer.jid);
		assert.equal(0, answer.exit_status);
		assert.equal(tls_version or "TLSv1.3", answer.tls);
	end

	local function assert_refused(answer, condition)
		assert.is_false(answer.ok);
		assert.equal(condition, answer.condition, answer.text);
		assert.equal(0, answer.exit_status); -- a clean SASL <failure/>, not a timeout or a hang-up
	end

	setup(function()
		server = assert(prosody.start({
			hosts = { HOST, OTHER_HOST, NO_PLAIN_HOST, FAST_HOST },
			modules = with({ "admin_shell"; "admin_socket" }, SASL2_MODULES),
			options = {
				otp_seed = SEED;
				token_secret = { SECRET, ROTATED_SECRET };
				-- Disables names before they log in; known users: spec/e2e/accounts_spec.lua.
				token_users = "any";
			};
			host_options = {
				[NO_PLAIN_HOST] = { token_allow_plain = false };
				[FAST_HOST] = { token_allow_fast = true };
			};
		}));
	end);

	teardown(function()
		if server then
			server:stop();
		end
	end);

	it("runs the Prosody it was asked for, " .. INSTALLED, function()
		assert.equal(INSTALLED, server.version);
	end);

	describe("a valid token", function()
		it("logs in on a second host with a token for that host", function()
			assert_bound(login("alice", mint("alice", { host = OTHER_HOST }), "X-TOKEN", OTHER_HOST), "alice", OTHER_HOST);
		end);

		it("from the previous OTP step is accepted", function()
			local now = away_from_step_end();
			assert_bound(login("alice", mint("alice", { time = now - 30 })), "alice");
		end);

		it("signed with the second (rotated) secret is accepted", function()
			assert_bound(login("alice", mint("alice", { secret = ROTATED_SECRET })), "alice");
		end);

		it("for a numeric user logs in as that user", function()
			assert_bound(login("42", mint("42")), "42");
		end);

		it("logs in over X-TOKEN and PLAIN on the direct TLS port", function()
			for _, mech in ipairs({ "X-TOKEN", "PLAIN" }) do
				local log = logged_during(function()
					assert_bound(server:login({ jid = "alice@" .. HOST, mech = mech, password = mint("alice"), tls = "direct" }),
						"alice");
				end);
				assert.matches("Token accepted for alice@a.test via " .. mech, log, 1, true);
			end
		end);
	end);

	describe("a replayed token", function()
		it("is refused over X-TOKEN", function()
			local token = mint("alice");
			assert_bound(login("alice", token), "alice");
			local log = logged_during(function()
				assert_refused(login("alice", token), "not-authorized");
			end);
			assert.matches("Token refused for alice@a.test via X-TOKEN: replayed", log, 1, true);
		end);

		it("is refused over PLAIN after X-TOKEN", function()
			local token = mint("alice");
			assert_bound(login("alice", token), "alice");
			local log = logged_during(function()
				assert_refused(login("alice", token, "PLAIN"), "not-authorized");
			end);
			assert.matches("Token refused for alice@a.test via PLAIN: replayed", log, 1, true);
		end);

		it("is refused after a token of the next step was used", function()
			local now = away_from_step_end();
			local older, newer = mint("carol", { time = now - 30 }), mint("carol", { time = now });
			assert_bound(login("carol", older), "carol");
			assert_bound(login("carol", newer), "carol");
			assert_refused(login("carol", older), "not-authorized");
			assert_refused(login("carol", newer, "PLAIN"), "not-authorized");
		end);
	end);

	describe("a token that is not valid here", function()
		local cases = {
			{ "signed with a wrong secret", "alice",
				function() return mint("alice", { secret = prosody.random_base32() }); end, "bad_signature" };
			{ "minted for another user", "mallory", function() return mint("alice"); end, "bad_signature" };
			{ "minted for another host", "alice", function() return mint("alice", { host = OTHER_HOST }); end, "bad_signature" };
			{ "from a wrong OTP seed", "alice",
				function() return mint("alice", { seed = prosody.random_base32() }); end, "otp_mismatch" };
			{ "two OTP steps old", "alice", function() return mint("alice", { time = os.time() - 60 }); end, "otp_mismatch" };
		};
		for _, case in ipairs(cases) do
			local name, user, make, reason = case[1], case[2], case[3], case[4];
			it("is refused when " .. name, function()
				local token = make();
				local log = logged_during(function()
					assert_refused(login(user, token), "not-authorized");
				end);
				assert.matches(("Token refused for %s@a.test via X-TOKEN: %s"):format(user, reason), log, 1, true);
				assert_refused(login(user, token, "PLAIN"), "not-authorized");
			end);
		end

		it("is refused in the 42/142 forgery", function()
			local token = mint("42", { nonce = ("7"):rep(31) .. "1" });
			local otp_nonce, signature = token:match("^(%d+) (.+)$");
			local forged = otp_nonce:sub(1, -2) .. " " .. signature; -- "1" moved into the username
			local log = logged_during(function()
				assert_refused(login("142", forged), "malformed-request");
			end);
			assert.matches("Token refused for 142@a.test via X-TOKEN: nonce_length", log, 1, true);
			assert_bound(login("42", token), "42");
		end);
	end);

	describe("a malformed message", function()
		local function sig_of(token) return token:match(" (.+)$"); end
		local function digits_of(token) return token:match("^(%d+) "); end
		local function arabic_indic(digits)
			return (digits:gsub("%d", function(d) return "\217" .. string.char(160 + tonumber(d)); end));
		end
		local garbage = {};
		for i = 1, 10240 do
			garbage[i] = string.char(33 + (i * 7919) % 94);
		end
		garbage = table.concat(garbage);

		-- name, client options (user alice), expected condition(s)
		local cases = {
			{ "an empty message", function() return { raw_sasl_hex = "" }; end };
			{ "no fields at all", function(t) return { raw_sasl_hex = prosody.hex(t) }; end };
			{ "an empty token", function() return { token_hex = "" }; end };
			{ "a token without the space", function(t) return { password = digits_of(t) .. sig_of(t) }; end };
			{ "a token without the signature", function(t) return { password = digits_of(t) }; end };
			{ "a token with an empty signature", function(t) return { password = digits_of(t) .. " " }; end };
			{ "invalid base64", function(t) return { password = digits_of(t) .. " !" .. sig_of(t):sub(2) }; end };
			{ "unpadded base64", function(t) return { password = digits_of(t) .. " " .. sig_of(t):gsub("=", "") }; end };
			{ "URL-safe base64", function()
				local t;
				repeat -- a signature with a + or a / to translate
					t = mint("alice");
				until sig_of(t):find("[+/]");
				return { password = digits_of(t) .. " " .. sig_of(t):gsub("%+", "-"):gsub("/", "_") };
			end };
			{ "a NUL byte in the token", function(t)
				return { token_hex = prosody.hex(digits_of(t) .. "\0 " .. sig_of(t)) };
			end };
			{ "Arabic-Indic digits", function(t) return { password = arabic_indic(digits_of(t)) .. " " .. sig_of(t) }; end };
			{ "other unicode", function(t) return { password = digits_of(t) .. "\u{2003}" .. sig_of(t) .. "\u{1F600}" }; end };
			{ "invalid UTF-8", function(t) return { token_hex = prosody.hex(digits_of(t) .. " \255\254" .. sig_of(t)) }; end };
			{ "10 KB of garbage", function() return { password = garbage }; end };
			{ "10 KB of binary garbage", function() return { token_hex = prosody.hex(garbage:gsub("[a-m]", "\255")) }; end };
			{ "trailing data after the token", function(t)
				return { raw_sasl_hex = prosody.hex("\0alice\0" .. t .. "\0extra") };
			end };
			{ "an empty username", function(t) return { raw_sasl_hex = prosody.hex("\0\0" .. t) }; end };
			{ "an authzid for someone else", function(t)
				return { password = t, authzid = "bob@a.test" };
			end, "invalid-authzid" };
		};

		for _, case in ipairs(cases) do
			local name, make, condition = case[1], case[2], case[3];
			it("gets a SASL failure for " .. name .. ", and the next login works", function()
				local token = mint("alice");
				local opts = make(token);
				opts.jid, opts.mech = "alice@" .. HOST, "X-TOKEN";
				local answer = server:login(opts);
				assert_refused(answer, condition or "malformed-request");
				assert_bound(login("alice", mint("alice")), "alice");
			end);
		end

		it("logs each malformed message once with its reason, from Prosody's authentication-failure", function()
			local log = logged_during(function()
				assert_refused(server:login({ jid = "alice@" .. HOST, mech = "X-TOKEN", raw_sasl_hex = "" }), "malformed-request");
				assert_refused(server:login({ jid = "alice@" .. HOST, mech = "X-TOKEN", password = mint("alice"),
					authzid = "bob@a.test" }), "invalid-authzid");
			end);
			local _, malformed = log:gsub("Token refused for %(unknown%)@a%.test via X%-TOKEN: malformed_request", "");
			local _, authzid = log:gsub("Token refused for alice@a%.test via X%-TOKEN: invalid_authzid", "");
			assert.same({ 1, 1 }, { malformed, authzid });
		end);

		local plain_cases = {
			{ "an empty message", { raw_sasl_hex = "" } };
			{ "a NUL byte in the password", { token_hex = "31320033" } };
			{ "invalid UTF-8", { token_hex = "31ff32" } };
			{ "10 KB of garbage", { password = garbage } };
		};
		for _, case in ipairs(plain_cases) do
			it("gets a SASL failure over PLAIN for " .. case[1], function()
				local opts = { jid = "alice@" .. HOST, mech = "PLAIN" };
				for k, v in pairs(case[2]) do
					opts[k] = v;
				end
				local answer = server:login(opts);
				assert.is_false(answer.ok);
				assert.equal(0, answer.exit_status);
				assert.is_truthy(({ ["malformed-request"] = true, ["not-authorized"] = true })[answer.condition], answer.condition);
			end);
		end
	end);

	describe("token_allow_plain = false", function()
		it("leaves PLAIN out but keeps X-TOKEN", function()
			local answer = login("alice", mint("alice", { host = NO_PLAIN_HOST }), "PLAIN", NO_PLAIN_HOST);
			assert.same({ false, "mechanism-not-offered", { "X-TOKEN" } }, { answer.ok, answer.condition, answer.mechanisms });
			local token = mint("alice", { host = NO_PLAIN_HOST });
			assert_bound(login("alice", token, "X-TOKEN", NO_PLAIN_HOST), "alice", NO_PLAIN_HOST);
		end);
	end);

	describe("a disabled account", function()
		it("stays disabled over a restart until user:enable #slow", function()
			account("disable", "frank");
			assert_refused(login("frank", mint("frank")), "account-disabled");
			assert(server:restart());
			assert.equal(INSTALLED, server.version);
			assert_refused(login("frank", mint("frank"), "PLAIN"), "account-disabled");
			account("enable", "frank");
			assert_bound(login("frank", mint("frank")), "frank");
		end);
	end);

	-- What legacy SASL and SASL2 with Bind2 (Prosody 13) both do, case by
	-- case, each protocol with users of its own.
	local PROTOCOLS = {
		{ name = "legacy SASL", login = login, users = { "alice", "bob", "dave", "erin" } },
		{ name = "SASL2 with Bind2 (Prosody 13)", sasl2 = true, login = sasl2_login, users = { "alice", "bob", "gina", "hank" } },
	};
	for _, protocol in ipairs(PROTOCOLS) do
		describe("over " .. protocol.name, function()
			if protocol.sasl2 and not IS_13 then
				pending("Prosody " .. INSTALLED .. " has no SASL2");
				return;
			end
			local function bound(answer, user, host)
				assert_bound(answer, user, host);
				if protocol.sasl2 then
					assert.is_true(answer.bound); -- by Bind2, in the same round trip
				end
			end
			local xtoken_user, plain_user, disabled_user, session_user = table.unpack(protocol.users);

			it("logs in over X-TOKEN and binds the right JID", function()
				local log = logged_during(function()
					bound(protocol.login(xtoken_user, mint(xtoken_user)), xtoken_user);
				end);
				assert.matches("Token accepted for " .. xtoken_user .. "@a.test via X-TOKEN", log, 1, true);
			end);

			it("logs in over PLAIN and binds the right JID", function()
				bound(protocol.login(plain_user, mint(plain_user), "PLAIN"), plain_user);
			end);

			it("refuses a disabled account with account-disabled over X-TOKEN and PLAIN, logged as account_disabled; "
				.. "others log in", function()
				local user = disabled_user;
				account("disable", user);
				local log = logged_during(function()
					assert_refused(protocol.login(user, mint(user)), "account-disabled");
					assert_refused(protocol.login(user, mint(user), "PLAIN"), "account-disabled");
				end);
				assert.matches("Token refused for " .. user .. "@a.test via X-TOKEN: account_disabled", log, 1, true);
				assert.matches("Token refused for " .. user .. "@a.test via PLAIN: account_disabled", log, 1, true);
				bound(protocol.login("alice", mint("alice")), "alice");
				bound(protocol.login(user, mint(user, { host = OTHER_HOST }), "X-TOKEN", OTHER_HOST), user, OTHER_HOST);
				account("enable", user);
				bound(protocol.login(user, mint(user)), user);
			end);

			it("closes a live session when the account is disabled", function()
				local session = server:session({ sasl2 = protocol.sasl2, jid = session_user .. "@" .. HOST, mech = "X-TOKEN",
					password = mint(session_user), hold = 10 });
				bound(session:login(), session_user);
				account("disable", session_user);
				assert.same({ closed = true, condition = "not-authorized", text = "Account disabled" }, session:closed());
				account("enable", session_user);
			end);
		end);
	end

	describe("SASL2 with Bind2 (Prosody 13)", function()
		if not IS_13 then
			pending("Prosody " .. INSTALLED .. " has no SASL2");
			return;
		end

		local function assert_sasl2_bound(answer, user, host, tls_version)
			assert_bound(answer, user, host, tls_version);
			assert.is_true(answer.bound);
		end

		it("logs in over X-TOKEN and PLAIN on the direct TLS port", function()
			for _, mech in ipairs({ "X-TOKEN", "PLAIN" }) do
				local answer = sasl2_login("bob", mint("bob"), mech, HOST, { tls = "direct" });
				assert_sasl2_bound(answer, "bob");
				assert.same({ "PLAIN", "X-TOKEN" }, answer.mechanisms);
			end
		end);

		it("refuses a replay across mechanisms and protocols", function()
			local token = mint("alice");
			assert_sasl2_bound(sasl2_login("alice", token), "alice");
			local log = logged_during(function()
				assert_refused(sasl2_login("alice", token, "PLAIN"), "not-authorized");
				assert_refused(login("alice", token), "not-authorized");
			end);
			assert.matches("Token refused for alice@a.test via PLAIN: replayed", log, 1, true);
			assert.matches("Token refused for alice@a.test via X-TOKEN: replayed", log, 1, true);
			local legacy_first = mint("alice");
			assert_bound(login("alice", legacy_first, "PLAIN"), "alice");
			assert_refused(sasl2_login("alice", legacy_first), "not-authorized");
		end);

		it("logs and counts a malformed X-TOKEN message, from authentication-failure", function()
			local log = logged_during(function()
				assert_refused(sasl2_login("alice", "", "X-TOKEN"), "malformed-request");
			end);
			assert.matches("Token refused for alice@a.test via X-TOKEN: malformed", log, 1, true);
		end);

		describe("FAST by default (token_allow_fast = false)", function()
			it("is not offered, and a token request gets no FAST token", function()
				local log = logged_during(function()
					local answer = sasl2_login("alice", mint("alice"), "X-TOKEN", HOST, { request_token = "HT-SHA-256-NONE" });
					assert_sasl2_bound(answer, "alice");
					assert.same({}, answer.fast_mechanisms);
					assert.is_nil(answer.fast_token);
				end);
				assert.matches("Dropped a FAST token request", log, 1, true);
			end);

			it("refuses a FAST login, with or without channel binding", function()
				for mech, version in pairs({ ["HT-SHA-256-NONE"] = "1.3", ["HT-SHA-256-EXPR"] = "1.3", ["HT-SHA-256-UNIQ"] = "1.2" }) do
					local answer = sasl2_login("alice", nil, mech, HOST, { fast_token = "secret-token:fast-made-up", tls_max = version });
					assert_refused(answer, "malformed-request");
					assert.matches("FAST is not available", answer.text, 1, true);
					assert.equal("TLSv" .. version, answer.tls);
				end
			end);
		end);

		describe("FAST with token_allow_fast = true", function()
			it("gives a FAST token that logs in, logged and counted, until the account is disabled", function()
				local first = sasl2_login("ivan", mint("ivan", { host = FAST_HOST }), "X-TOKEN", FAST_HOST,
					{ request_token = "HT-SHA-256-NONE" });
				assert_sasl2_bound(first, "ivan", FAST_HOST);
				-- TLS 1.3: tls-exporter is the channel binding on offer.
				assert.same({ "HT-SHA-256-EXPR", "HT-SHA-256-NONE" }, first.fast_mechanisms);
				local fast_token = assert(first.fast_token, "no FAST token");
				fast_tokens[#fast_tokens + 1] = fast_token;
				local log = logged_during(function()
					assert_sasl2_bound(sasl2_login("ivan", nil, "HT-SHA-256-NONE", FAST_HOST, { fast_token = fast_token }),
						"ivan", FAST_HOST);
				end);
				assert.matches("FAST token login for ivan@fast.test", log, 1, true);
				account("disable", "ivan", FAST_HOST);
				-- Issued before password_updated (the disable): mod_sasl2_fast
				-- answers credentials-expired and deletes the token.
				assert_refused(sasl2_login("ivan", nil, "HT-SHA-256-NONE", FAST_HOST, { fast_token = fast_token }),
					"credentials-expired");
				account("enable", "ivan", FAST_HOST);
				assert_refused(sasl2_login("ivan", nil, "HT-SHA-256-NONE", FAST_HOST, { fast_token = fast_token }),
					"not-authorized");
				assert_sasl2_bound(sasl2_login("ivan", mint("ivan", { host = FAST_HOST }), "X-TOKEN", FAST_HOST), "ivan", FAST_HOST);
			end);

			-- name, channel binding, TLS version the client holds to, what else is on offer
			local bound_mechanisms = {
				{ "HT-SHA-256-EXPR", "tls-exporter", "1.3", { "HT-SHA-256-EXPR", "HT-SHA-256-NONE" } };
				{ "HT-SHA-256-UNIQ", "tls-unique", "1.2", { "HT-SHA-256-NONE", "HT-SHA-256-UNIQ" } };
			};
			for _, case in ipairs(bound_mechanisms) do
				local mech, binding, version, offered = case[1], case[2], case[3], case[4];
				it(("re-logs in with %s over TLS %s (%s); another channel's binding is refused"):format(mech, version, binding),
					function()
						local user, tls_version = "judy" .. version:gsub("%.", ""), "TLSv" .. version;
						local function fast_login(token, extra)
							local opts = { fast_token = token, tls_max = version };
							for k, v in pairs(extra or {}) do
								opts[k] = v;
							end
							return sasl2_login(user, nil, mech, FAST_HOST, opts);
						end
						local first = sasl2_login(user, mint(user, { host = FAST_HOST }), "X-TOKEN", FAST_HOST,
							{ request_token = mech, tls_max = version });
						assert_sasl2_bound(first, user, FAST_HOST, tls_version);
						assert.same(offered, first.fast_mechanisms);
						local fast_token = assert(first.fast_token, "no FAST token");
						fast_tokens[#fast_tokens + 1] = fast_token;
						-- Computed with zero bytes for the binding, as a login
						-- replayed from another TLS connection would be.
						assert_refused(fast_login(fast_token, { bad_channel_binding = true }), "not-authorized");
						local again = fast_login(fast_token);
						assert_sasl2_bound(again, user, FAST_HOST, tls_version);
						assert.is_true(again.server_proof, "the server's answer proves the same binding");
						-- Over direct TLS too: a new connection, its own binding.
						assert_sasl2_bound(fast_login(fast_token, { tls = "direct" }), user, FAST_HOST, tls_version);
					end);
			end
		end);
	end);

	describe("after all of that", function()
		it("the server is alive and still logs people in", function()
			assert.is_true(server:alive());
			assert_bound(login("alice", mint("alice")), "alice");
		end);

		it("the log holds no Lua traceback and no error", function()
			local log = server:log();
			assert.is_nil(log:find("traceback", 1, true));
			assert.is_nil(log:find("\terror\t", 1, true), log:match("[^\n]*\terror\t[^\n]*"));
		end);

		it("the log holds no secret, seed or token", function()
			local log = server:log();
			assert.is_true(#minted > 30);
			for _, secret in ipairs({ SEED, SECRET, ROTATED_SECRET }) do
				assert.is_nil(log:find(secret, 1, true));
			end
			for _, token in ipairs(minted) do
				local digits, signature = token:match("^(%d+) (.+)$");
				assert.is_nil(log:find(digits:sub(9), 1, true), "a token's nonce");
				assert.is_nil(log:find(signature, 1, true), "signature of a token");
			end
			for _, token in ipairs(fast_tokens) do
				assert.is_nil(log:find(token, 1, true), "a FAST token");
			end
		end);
	end);
end);

describe("Prosody with a bad token configuration #e2e", function()
	local server;
	local BAD_SEED = "THIS-IS-NOT-BASE32-0189";

	setup(function()
		server = assert(prosody.start({
			hosts = { "bad.test" },
			options = { token_secret = prosody.random_base32(), otp_seed = BAD_SEED },
		}));
	end);

	teardown(function()
		if server then
			server:stop();
		end
	end);

	it("fails to load the module with a message naming the option, not its value", function()
		local message = "mod_auth_token: bad configuration for bad.test: option otp_seed is not base32";
		local log = server:wait_for_log(message);
		assert.matches(message, log, 1, true);
		assert.is_nil(log:find(BAD_SEED, 1, true));
	end);

	-- With no SASL mechanism to offer after STARTTLS, Prosody closes the stream.
	it("offers no way in on the misconfigured host", function()
		local answer = server:login({ jid = "alice@bad.test", mech = "X-TOKEN", password = "0" });
		assert.same({ false, "stream-error" }, { answer.ok, answer.condition });
		assert.matches("No stream features", answer.text, 1, true);
		assert.matches("No available SASL mechanisms", server:log(), 1, true);
	end);
end);

-- Plain TCP, the client never sending STARTTLS: valid tokens, sent anyway.
describe("Prosody before STARTTLS #e2e", function()
	local SEED, SECRET = prosody.random_base32(), prosody.random_base32();
	-- a.test as Prosody comes (c2s_require_encryption = true); optional.test
	-- lets clients stay unencrypted, and PLAIN and X-TOKEN still wait for TLS
	-- (allow_unencrypted_plain_auth stays false).
	local HOST, OPTIONAL_HOST = "a.test", "optional.test";
	local server;

	setup(function()
		server = assert(prosody.start({
			hosts = { HOST, OPTIONAL_HOST },
			modules = SASL2_MODULES,
			options = { otp_seed = SEED; token_secret = SECRET },
			host_options = { [OPTIONAL_HOST] = { c2s_require_encryption = false } },
		}));
	end);

	teardown(function()
		if server then
			server:stop();
		end
	end);

	local function mint(user, host)
		return prosody.mint({ user = user, host = host or HOST, seed = SEED, secret = SECRET });
	end

	-- What Prosody logged while f ran.
	local function logged_during(f)
		local before = #server:log();
		local result = f();
		return server:log():sub(before + 1), result;
	end

	-- The token was never checked: it still logs in once over STARTTLS.
	local function assert_unused(user, token, mech, host)
		local answer = server:login({ jid = user .. "@" .. (host or HOST), mech = mech, password = token });
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert.equal("TLSv1.3", answer.tls);
	end

	it("offers STARTTLS and no mechanism, and refuses X-TOKEN and PLAIN with encryption-required", function()
		for _, mech in ipairs({ "X-TOKEN", "PLAIN" }) do
			local token = mint("alice");
			local log, answer = logged_during(function()
				return server:sasl2_login({ jid = "alice@" .. HOST, mech = mech, password = token, tls = "none", sasl1 = true });
			end);
			assert.same({ false, "encryption-required", 0, nil }, { answer.ok, answer.condition, answer.exit_status, answer.tls });
			assert.is_truthy(answer.features[1]);
			for _, feature in ipairs(answer.features) do
				assert.is_truthy(({ starttls = true, limits = true })[feature], feature); -- 13 adds <limits/>
			end
			assert.same({}, answer.mechanisms);
			assert.is_nil(log:find("Token ", 1, true), mech);
			assert_unused("alice", token, mech);
		end
	end);

	it("refuses X-TOKEN and PLAIN over SASL2 (Debian's mod_sasl2 raises instead of answering)", function()
		if not IS_13 then
			pending("Prosody " .. INSTALLED .. " has no SASL2");
			return;
		end
		-- Both at once: with Debian's mod_sasl2 each waits out its timeout.
		local mechs, tokens, clients = { "X-TOKEN", "PLAIN" }, {}, {};
		local log = logged_during(function()
			for i, mech in ipairs(mechs) do
				tokens[i] = mint("bob");
				clients[i] = server:session({ sasl2 = true, jid = "bob@" .. HOST, mech = mech, password = tokens[i],
					tls = "none", timeout = 2 });
			end
			for i = 1, #mechs do
				clients[i] = assert(clients[i]:login(10), "no answer at all");
			end
		end);
		local _, raised = log:gsub("mod_sasl2.lua:%d+: attempt to index a nil value %(field 'sasl_handler'%)", "");
		local timeouts = 0;
		for i, answer in ipairs(clients) do
			assert.same({ false, {} }, { answer.ok, answer.mechanisms }, mechs[i]);
			if answer.condition == "timeout" then
				-- mod_sasl2 13.0.1 and 13.0.6: its failure hook indexes the
				-- session's missing SASL handler; no <failure/> is sent (README).
				timeouts = timeouts + 1;
			else
				assert.equal("encryption-required", answer.condition, mechs[i]);
			end
		end
		assert.equal(timeouts, raised);
		assert.is_nil(log:find("Token ", 1, true));
		for i, mech in ipairs(mechs) do
			assert_unused("bob", tokens[i], mech);
		end
	end);

	it("offers neither X-TOKEN nor PLAIN unencrypted where encryption is optional, and refuses them", function()
		local opts = { jid = "carol@" .. OPTIONAL_HOST, tls = "none" };
		for _, protocol in ipairs(IS_13 and { "SASL", "SASL2" } or { "SASL" }) do
			for _, mech in ipairs({ "X-TOKEN", "PLAIN" }) do
				opts.mech, opts.password, opts.sasl1 = mech, mint("carol", OPTIONAL_HOST), protocol == "SASL";
				local log, answer = logged_during(function() return server:sasl2_login(opts); end);
				local what = protocol .. " " .. mech;
				assert.same({ false, 0, {} }, { answer.ok, answer.exit_status, answer.mechanisms }, what);
				-- mod_saslauth says encryption-required for what insecure_sasl_mechanisms lists (PLAIN)
				assert.is_truthy(({ ["invalid-mechanism"] = true, ["encryption-required"] = true })[answer.condition],
					what .. ": " .. tostring(answer.condition));
				assert.is_truthy(answer.features and answer.features[1], what);
				assert.is_nil(log:find("Token ", 1, true), what);
				assert_unused("carol", opts.password, mech, OPTIONAL_HOST);
			end
		end
	end);
end);

describe("Prosody without the native module #e2e", function()
	local server;

	setup(function()
		server = assert(prosody.start({
			hosts = { "a.test" },
			options = { otp_seed = prosody.random_base32(), token_secret = prosody.random_base32() },
			cpath = "/nonexistent/?.so;;",
		}));
	end);

	teardown(function()
		if server then
			server:stop();
		end
	end);

	it("fails to load the module and says what to install where", function()
		local log = server:wait_for_log("mod_auth_token: cannot load the native module token_auth");
		assert.matches("mod_auth_token: cannot load the native module token_auth", log, 1, true);
		assert.matches("luarocks --lua-version 5.4 make", log, 1, true);
		assert.matches("/usr/local/lib/lua/5.4/", log, 1, true);
	end);
end);

describe("Prosody 13 reading token_secret with Credential() #e2e", function()
	if not IS_13 then
		pending("Prosody " .. INSTALLED .. " has no Credential()");
		return;
	end
	local shell = require "spec.support.shell";
	local SEED, SECRET = prosody.random_base32(), prosody.random_base32();
	local JWT_SECRET = prosody.random_base32() .. prosody.random_base32(); -- HS256 wants 32 bytes or more
	local server, credentials;

	setup(function()
		-- What systemd's LoadCredential= gives the service: a directory named
		-- by $CREDENTIALS_DIRECTORY, one file per credential, read whole.
		credentials = shell.temp_dir("token-auth-credentials");
		shell.write_file(credentials .. "/token_secret", SECRET); -- no trailing newline: it would be part of the key
		shell.write_file(credentials .. "/token_jwt_secret", JWT_SECRET);
		server = assert(prosody.start({
			hosts = { "a.test" },
			options = { otp_seed = SEED },
			config_lines = { 'token_secret = Credential("token_secret")',
				'token_jwt_secret = Credential("token_jwt_secret")' },
			env = { CREDENTIALS_DIRECTORY = credentials },
		}));
	end);

	teardown(function()
		if server then
			server:stop();
		end
		os.execute("rm -rf " .. shell.quote(credentials));
	end);

	it("serves the secret from the credentials directory, and tokens signed with it log in", function()
		assert.matches('token_secret = Credential("token_secret")', shell.read_file(server.config_path), 1, true);
		local token = prosody.mint({ user = "alice", host = "a.test", seed = SEED, secret = SECRET });
		local answer = server:login({ jid = "alice@a.test", mech = "X-TOKEN", password = token });
		assert.is_true(answer.ok, answer.condition);
		local wrong = prosody.mint({ user = "alice", host = "a.test", seed = SEED, secret = prosody.random_base32() });
		local refused = server:login({ jid = "alice@a.test", mech = "X-TOKEN", password = wrong });
		assert.same({ false, "not-authorized" }, { refused.ok, refused.condition });
		assert.is_nil(server:log():find(SECRET, 1, true));
	end);

	it("serves token_jwt_secret from it too: PyJWT's HS256 JWTs signed with it log in", function()
		local issuers = require "spec.support.jwt_issuers";
		local dir = shell.temp_dir("token-auth-credentials-jwt");
		local claims = ('{"sub":"bob","exp":%d,"iat":%d}'):format(os.time() + 300, os.time());
		local tokens = issuers.issue("py", dir, JWT_SECRET, {
			{ name = "signed", alg = "HS256", claims = claims, signer = "secret" },
		});
		local stranger = issuers.issue("py", dir, prosody.random_base32() .. prosody.random_base32(), {
			{ name = "signed", alg = "HS256", claims = claims, signer = "secret" },
		});
		os.execute("rm -rf " .. shell.quote(dir));
		local answer = server:login({ jid = "bob@a.test", mech = "PLAIN", password = tokens.signed });
		assert.is_true(answer.ok, answer.condition);
		local refused = server:login({ jid = "bob@a.test", mech = "PLAIN", password = stranger.signed });
		assert.same({ false, "not-authorized" }, { refused.ok, refused.condition });
		assert.matches("jwt_bad_signature", server:log(), 1, true);
		assert.is_nil(server:log():find(JWT_SECRET, 1, true));
	end);
end);
