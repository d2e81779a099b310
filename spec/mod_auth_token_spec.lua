-- The auth provider (lua/mod_auth_token.lua) in a fake `module`, over the real
-- native token_auth and Prosody's real util.sasl. Runs under Prosody's Lua (lua5.4).

describe("mod_auth_token #plugins", function()
	local fake_module = require "spec.support.fake_module";
	if not fake_module.ready(true) then
		return;
	end
	local token_auth = require "token_auth";

	local HOST = "example.com";
	local SEED = token_auth.new_seed();
	local SECRET = token_auth.new_secret();
	local OTHER_SECRET = token_auth.new_secret();

	local function options(extra)
		local o = { otp_seed = SEED, token_secret = SECRET };
		for k, v in pairs(extra or {}) do
			o[k] = v;
		end
		return o;
	end

	-- Loads the plugin; returns the fake module, or fails the test.
	local function load(extra, features)
		local m = fake_module.new(HOST, "auth_token", options(extra), features);
		local ok, err = fake_module.load_plugin(m);
		assert(ok, err);
		return m, m.provided.auth;
	end

	local function load_error(extra)
		local m = fake_module.new(HOST, "auth_token", extra);
		local ok, err = fake_module.load_plugin(m);
		assert.is_false(ok);
		assert.is_nil(m.provided.auth);
		return err;
	end

	-- A token minted by the native module; config may also name another host.
	local function mint(username, config)
		local host, c = HOST, { otp_seed = SEED, token_secret = SECRET };
		for k, v in pairs(config or {}) do
			if k == "host" then
				host = v;
			else
				c[k] = v;
			end
		end
		return token_auth.generate_token(username, host, c);
	end

	-- The plugin's clock, pinned: the middle of an OTP step, so that "one
	-- step ago" means the same to the minting and the checking side.
	local NOW = 1767225615;
	local function pinned_clock()
		return NOW;
	end

	-- Hands the handler's failure to the module's authentication-failure
	-- hooks, as mod_saslauth and mod_sasl2 do before replacing the handler.
	local function sasl_attempt(m, provider, mechanism, message, session)
		session = session or { secure = true };
		local handler = provider.get_sasl_handler(session);
		assert.is_true(handler:select(mechanism), mechanism .. " not offered");
		session.sasl_handler = handler;
		local status, condition = handler:process(message);
		if status == "failure" then
			fake_module.fire(m, "authentication-failure", { session = session, condition = condition });
		end
		return status, condition;
	end

	describe("when it loads", function()
		it("provides the auth provider named token", function()
			local _, provider = load();
			assert.equal("token", provider.name);
		end);

		it("accepts the community module's configuration unchanged", function()
			local m = fake_module.new(HOST, "auth_token", {
				token_secret = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7";
				otp_seed = "XVGR73KMZH2M4XMY";
			});
			assert.same({ true }, { fake_module.load_plugin(m) });
			assert.is_table(m.provided.auth);
		end);

		it("fails, naming otp_seed, when otp_seed is missing", function()
			local err = load_error({ token_secret = SECRET });
			assert.matches("option otp_seed is not set", err, 1, true);
			assert.is_nil(err:find(SECRET, 1, true));
		end);

		it("fails, naming token_secret, when token_secret is missing", function()
			local err = load_error({ otp_seed = SEED });
			assert.matches("option token_secret is not set", err, 1, true);
			assert.is_nil(err:find(SEED, 1, true));
		end);

		it("fails, naming otp_seed but not showing it, when otp_seed is not base32", function()
			local bad_seed = "NOT-BASE32-AT-ALL-1189";
			local err = load_error({ otp_seed = bad_seed, token_secret = SECRET });
			assert.matches("option otp_seed ", err, 1, true);
			assert.is_nil(err:find(bad_seed, 1, true));
			assert.is_nil(err:find(SECRET, 1, true));
		end);

		it("fails, naming token_secret but not showing it, when a secret is too short", function()
			local short = "tooshort";
			local err = load_error({ otp_seed = SEED, token_secret = { SECRET, short } });
			assert.matches("option token_secret ", err, 1, true);
			assert.is_nil(err:find(short, 1, true));
			assert.is_nil(err:find(SECRET, 1, true));
			assert.is_nil(err:find(SEED, 1, true));
		end);

		local bad_options = {
			{ "token_otp_window", 11 };
			{ "token_otp_window", "1" };
			{ "token_otp_window", 1.5 };
			{ "token_nonce_length", 7 };
			{ "token_otp_digits", 5 };
			{ "token_otp_period", 0 };
			{ "token_otp_algorithm", "MD5" };
			{ "token_otp_algorithm", 256 };
			{ "token_replay_capacity", 0 };
			{ "token_allow_plain", "yes" };
			{ "token_allow_fast", "yes" };
			{ "token_allow_fast", 1 };
			{ "token_users", "all" };
			{ "token_users", true };
			{ "token_fast_max_lifetime", 0 };
			{ "token_fast_max_lifetime", 400 * 86400 };
			{ "token_fast_max_lifetime", true };
			{ "token_secret", {} };
			{ "token_secret", 42 };
		};
		for _, case in ipairs(bad_options) do
			local option, value = case[1], case[2];
			it(("fails, naming %s, when it is %s %s"):format(option, type(value), tostring(value)), function()
				local err = load_error(options({ [option] = value }));
				assert.matches("mod_auth_token: bad configuration for example.com: option " .. option .. " ", err, 1, true);
				assert.is_nil(err:find(SECRET, 1, true));
				assert.is_nil(err:find(SEED, 1, true));
			end);
		end

		it("fails with install instructions when the native module is missing", function()
			local saved_cpath, saved_module = package.cpath, package.loaded.token_auth;
			package.cpath, package.loaded.token_auth = "/nonexistent/?.so", nil;
			local ok, err = pcall(load_error, options());
			package.cpath, package.loaded.token_auth = saved_cpath, saved_module;
			assert(ok, err);
			assert.matches("cannot load the native module token_auth", err, 1, true);
			assert.matches("luarocks --lua-version", err, 1, true);
			assert.matches("package.cpath", err, 1, true);
			assert.matches("/nonexistent/?.so", err, 1, true);
		end);
	end);

	describe("test_password()", function()
		it("accepts a fresh token once, then refuses it as replayed", function()
			local _, provider = load();
			local token = mint("alice");
			assert.same({ true }, { provider.test_password("alice", token) });
			assert.same({ nil, "replayed" }, { provider.test_password("alice", token) });
		end);

		it("refuses a token for another user, another host or another secret", function()
			local _, provider = load();
			assert.same({ nil, "bad_signature" }, { provider.test_password("bob", mint("alice")) });
			assert.same({ nil, "bad_signature" }, { provider.test_password("alice", mint("alice", { host = "example.org" })) });
			local other_secret = mint("alice", { token_secret = OTHER_SECRET });
			assert.same({ nil, "bad_signature" }, { provider.test_password("alice", other_secret) });
		end);

		it("refuses the 42/142 forgery", function()
			local _, provider = load();
			local token = mint("42", { nonce = ("0"):rep(31) .. "1" });
			local otp, nonce, sig = token:match("^(%d%d%d%d%d%d%d%d)(%d+) (.+)$");
			assert.same({ nil, "nonce_length" }, { provider.test_password("142", otp .. nonce:sub(1, -2) .. " " .. sig) });
			assert.same({ true }, { provider.test_password("42", token) });
		end);

		it("accepts the previous step and refuses two steps back, at the time of its clock", function()
			local _, provider = load(nil, { now = pinned_clock });
			assert.same({ true }, { provider.test_password("alice", mint("alice", { time = NOW - 30 })) });
			assert.same({ nil, "otp_mismatch" }, { provider.test_password("alice", mint("alice", { time = NOW - 60 })) });
			assert.same({ nil, "otp_mismatch" }, { provider.test_password("alice", mint("alice", { time = NOW + 60 })) });
		end);

		it("honours token_otp_window", function()
			local _, provider = load({ token_otp_window = 0 }, { now = pinned_clock });
			assert.same({ nil, "otp_mismatch" }, { provider.test_password("alice", mint("alice", { time = NOW - 30 })) });
			assert.same({ true }, { provider.test_password("alice", mint("alice", { time = NOW })) });
		end);

		it("honours the OTP and nonce options", function()
			local custom = {
				token_otp_digits = 6, token_otp_period = 60, token_otp_algorithm = "SHA256", token_nonce_length = 16,
			};
			local _, provider = load(custom);
			local same = { digits = 6, period = 60, algorithm = "SHA256", nonce_length = 16 };
			assert.same({ true }, { provider.test_password("alice", mint("alice", same)) });
			assert.same({ nil, "nonce_length" }, { provider.test_password("alice", mint("alice")) });
		end);

		it("accepts every secret of a list and remembers replays across them", function()
			local _, provider = load({ token_secret = { SECRET, OTHER_SECRET } });
			local old, new = mint("alice"), mint("alice", { token_secret = OTHER_SECRET });
			assert.same({ true }, { provider.test_password("alice", old) });
			assert.same({ true }, { provider.test_password("alice", new) });
			assert.same({ nil, "replayed" }, { provider.test_password("alice", new) });
		end);

		it("starts a new replay cache when the module is reloaded (one verifier per load)", function()
			local _, first = load();
			local _, second = load();
			local token = mint("alice");
			assert.same({ true }, { first.test_password("alice", token) });
			assert.same({ true }, { second.test_password("alice", token) });
		end);

		it("answers malformed input with a reason instead of an error", function()
			local _, provider = load();
			assert.same({ nil, "malformed" }, { provider.test_password("alice", nil) });
			assert.same({ nil, "malformed" }, { provider.test_password("alice", 12345) });
			assert.same({ nil, "malformed" }, { provider.test_password(nil, mint("alice")) });
			assert.same({ nil, "malformed" }, { provider.test_password("alice", "") });
			assert.same({ nil, "malformed" }, { provider.test_password("alice", ("\255"):rep(10240)) });
			assert.same({ nil, "invalid_jid" }, { provider.test_password("", mint("alice")) });
		end);
	end);

	describe("logging", function()
		it("logs each failure once with the username and reason, successes at debug, a new user at info", function()
			local m, provider = load();
			local token = mint("alice");
			provider.test_password("alice", token);
			provider.test_password("alice", token);
			assert.same({ "Token accepted for alice@example.com via test_password" }, fake_module.messages(m, "debug"));
			local infos = fake_module.messages(m, "info");
			assert.equal(2, #infos);
			assert.equal("New user alice@example.com (first token login)", infos[1]);
			assert.matches("^Token refused for alice@example.com via test_password: replayed ", infos[2]);
		end);

		it("never logs the token, the secret or the seed", function()
			local m, provider = load();
			local token = mint("alice");
			provider.test_password("alice", token);
			provider.test_password("alice", token);
			provider.test_password("bob", token);
			sasl_attempt(m, provider, "X-TOKEN", "\0alice\0" .. token .. "\0trailing");
			assert.is_true(#m.logs >= 4);
			local otp_and_nonce = token:match("^%d+");
			for _, entry in ipairs(m.logs) do
				assert.is_nil(entry.message:find(otp_and_nonce, 1, true), entry.message);
				assert.is_nil(entry.message:find(token:match(" (.+)$"), 1, true), entry.message);
				assert.is_nil(entry.message:find(SECRET, 1, true), entry.message);
				assert.is_nil(entry.message:find(SEED, 1, true), entry.message);
			end
		end);

		it("keeps control characters of a username out of the log", function()
			local m, provider = load();
			provider.test_password("eve\nFAKE LOG LINE", "x");
			local infos = fake_module.messages(m, "info");
			assert.equal(1, #infos);
			assert.matches("^Token refused for eve%?FAKE LOG LINE@example%.com via test_password: malformed ", infos[1]);
		end);
	end);

	describe("metrics", function()
		it("counts successes and each failure reason through module:metric", function()
			local m, provider = load();
			local token = mint("alice");
			provider.test_password("alice", token);
			provider.test_password("alice", token);
			provider.test_password("alice", "junk");
			provider.test_password("alice", "junk");
			assert.same({ ["results/success"] = 1, ["results/replayed"] = 1, ["results/malformed"] = 2 }, m.counts);
		end);

		it("falls back to module:measure where module:metric is missing", function()
			local m, provider = load(nil, { metric = false });
			local token = mint("alice");
			provider.test_password("alice", token);
			provider.test_password("alice", token);
			assert.same({ result_success = 1, result_replayed = 1 }, m.counts);
		end);

		it("still works with neither", function()
			local _, provider = load(nil, { metric = false, measure = false });
			assert.same({ true }, { provider.test_password("alice", mint("alice")) });
		end);

		it("counts the X-TOKEN message failures found by mod_sasl_token, from authentication-failure", function()
			local m, provider = load();
			for _ = 1, 2 do
				assert.same({ "failure", "malformed-request" }, { sasl_attempt(m, provider, "X-TOKEN", "garbage") });
			end
			assert.same({ "failure", "invalid-authzid" },
				{ sasl_attempt(m, provider, "X-TOKEN", "bob\0alice\0" .. mint("alice")) });
			assert.equal(2, m.counts["results/malformed_request"]);
			assert.equal(1, m.counts["results/invalid_authzid"]);
			assert.same({ "Token refused for (unknown)@example.com via X-TOKEN: malformed_request",
				"Token refused for (unknown)@example.com via X-TOKEN: malformed_request",
				"Token refused for alice@example.com via X-TOKEN: invalid_authzid" }, fake_module.messages(m, "info"));
		end);

		it("counts a refusal the provider made once, not again from authentication-failure", function()
			local m, provider = load();
			assert.same({ "failure", "not-authorized" }, { sasl_attempt(m, provider, "X-TOKEN", "\0bob\0" .. mint("alice")) });
			assert.same({ ["results/bad_signature"] = 1 }, m.counts);
			assert.equal(1, #fake_module.messages(m, "info"));
		end);
	end);

	describe("get_sasl_handler()", function()
		local function mechanisms(provider, session)
			local list = {};
			for name in pairs(provider.get_sasl_handler(session):mechanisms()) do
				list[#list + 1] = name;
			end
			table.sort(list);
			return list;
		end

		it("offers X-TOKEN and PLAIN on an encrypted connection", function()
			local _, provider = load();
			assert.same({ "PLAIN", "X-TOKEN" }, mechanisms(provider, { secure = true }));
		end);

		it("leaves X-TOKEN and PLAIN out of the profile on an unencrypted connection", function()
			-- mod_saslauth refuses an insecure PLAIN, mod_sasl2 only hides it.
			local _, provider = load();
			assert.same({}, mechanisms(provider, { secure = false }));
			assert.same({}, mechanisms(provider, nil));
		end);

		it("offers X-TOKEN unencrypted when allow_unencrypted_plain_auth is set", function()
			local _, provider = load({ allow_unencrypted_plain_auth = true });
			assert.same({ "PLAIN", "X-TOKEN" }, mechanisms(provider, {}));
		end);

		it("follows an explicit insecure_sasl_mechanisms", function()
			local _, open = load({ insecure_sasl_mechanisms = {} });
			assert.same({ "PLAIN", "X-TOKEN" }, mechanisms(open, {}));
			local _, strict = load({ allow_unencrypted_plain_auth = true, insecure_sasl_mechanisms = { "X-TOKEN" } });
			assert.same({ "PLAIN" }, mechanisms(strict, {}));
			local _, no_plain = load({ insecure_sasl_mechanisms = { "PLAIN" } });
			assert.same({}, mechanisms(no_plain, {}));
		end);

		it("leaves PLAIN out when token_allow_plain is false", function()
			local _, provider = load({ token_allow_plain = false });
			assert.same({ "X-TOKEN" }, mechanisms(provider, { secure = true }));
		end);

		it("logs in with the token over X-TOKEN and over PLAIN, once", function()
			local _, provider = load();
			local token = mint("alice");
			local x_token = provider.get_sasl_handler({ secure = true });
			assert.is_true(x_token:select("X-TOKEN"));
			assert.same({ "success" }, { x_token:process("\0Alice\0" .. token) });
			assert.equal("alice", x_token.username);

			local plain = provider.get_sasl_handler({ secure = true });
			assert.is_true(plain:select("PLAIN"));
			local status, condition = plain:process("\0alice\0" .. token);
			assert.same({ "failure", "not-authorized" }, { status, condition });

			local fresh = provider.get_sasl_handler({ secure = true });
			fresh:select("PLAIN");
			assert.same({ "success" }, { fresh:process("\0alice\0" .. mint("alice")) });
		end);

		it("maps the provider's reasons to SASL conditions for X-TOKEN", function()
			local _, provider = load();
			local function x_token(username, token)
				local handler = provider.get_sasl_handler({ secure = true });
				handler:select("X-TOKEN");
				local status, condition = handler:process("\0" .. username .. "\0" .. token);
				return { status, condition };
			end
			assert.same({ "failure", "not-authorized" }, x_token("bob", mint("alice")));
			assert.same({ "failure", "malformed-request" }, x_token("alice", "1234 abc"));
			assert.same({ "failure", "malformed-request" }, x_token("alice", "\217\160" .. mint("alice"):sub(2)));
		end);
	end);
	-- A user becomes known as an admin would make them (create_user).
	local function known(provider, ...)
		for _, name in ipairs({ ... }) do
			assert.is_true(provider.create_user(name));
		end
	end

	-- A clock the test moves: clock.t is what the plugin reads.
	local function movable_clock()
		local clock = { t = NOW };
		clock.now = function() return clock.t; end;
		return clock;
	end

	-- Everything the stores hold, as text (to prove what is not in them).
	local function dump(value, out)
		out = out or {};
		if type(value) == "table" then
			for k, v in pairs(value) do
				dump(k, out);
				dump(v, out);
			end
		else
			out[#out + 1] = tostring(value);
		end
		return out;
	end

	describe("known users (token_users = \"known\", the default)", function()
		it("knows nobody at first: user_exists() is false and users() lists none", function()
			local _, provider = load();
			assert.is_false(provider.user_exists("anyone"));
			assert.is_nil(provider.users()());
		end);

		it("knows a user from their first token login on, by the nodeprepped name, and lists them", function()
			local m, provider = load();
			assert.same({ true }, { provider.test_password("bob", mint("bob")) });
			assert.same({ true }, { provider.test_password("alice", mint("alice")) });
			assert.is_true(provider.user_exists("alice"));
			assert.is_true(provider.user_exists("ALICE"));
			assert.is_false(provider.user_exists("carol"));
			local listed = {};
			for name in provider.users() do
				listed[#listed + 1] = name;
			end
			assert.same({ "alice", "bob" }, listed);
			assert.matches("New user alice@example.com (first token login)", table.concat(fake_module.messages(m, "info"), "\n"),
				1, true);
		end);

		it("does not know a name whose token failed", function()
			local _, provider = load();
			assert.same({ nil, "bad_signature" }, { provider.test_password("mallory", mint("alice")) });
			assert.is_false(provider.user_exists("mallory"));
		end);

		it("registers a name an admin creates, with no password, once", function()
			local m, provider = load();
			assert.same({ true }, { provider.create_user("Bob", "typed at the prompt") });
			assert.is_true(provider.user_exists("bob"));
			assert.same({ nil, "user exists" }, { provider.create_user("bob") });
			assert.same({ nil, "invalid username" }, { provider.create_user("bad@name") });
			assert.is_nil(table.concat(dump(m.stores), "\n"):find("typed at the prompt", 1, true));
		end);

		it("discards a password set for a known user and refuses one for an unknown name", function()
			local m, provider = load();
			known(provider, "bob");
			assert.same({ true }, { provider.set_password("bob", "hunter2") });
			assert.same({ nil, "user not found" }, { provider.set_password("carol", "hunter2") });
			assert.is_nil(table.concat(dump(m.stores), "\n"):find("hunter2", 1, true));
		end);

		it("forgets a deleted user, and refuses to delete a name nobody has", function()
			local _, provider = load();
			known(provider, "bob");
			assert.same({ true }, { provider.delete_user("BOB") });
			assert.is_false(provider.user_exists("bob"));
			assert.same({ nil, "user not found" }, { provider.delete_user("bob") });
		end);

		it("keeps users across a reload (they live in the module's store)", function()
			local stores = {};
			local _, provider = load(nil, { stores = stores });
			provider.test_password("alice", mint("alice"));
			local _, reloaded = load(nil, { stores = stores });
			assert.is_true(reloaded.user_exists("alice"));
		end);

		it("says every name exists with token_users = \"any\", and records nobody at login", function()
			local m, provider = load({ token_users = "any" });
			assert.is_true(provider.user_exists("anyone"));
			assert.same({ true }, { provider.test_password("alice", mint("alice")) });
			assert.is_nil(m.stores.token_auth_accounts.data.alice);
			assert.is_true(provider.disable("typo"));
			assert.is_false(provider.is_enabled("typo"));
		end);
	end);

	describe("the account API", function()
		it("answers user not found for a name nobody has, and stores nothing (the typo)", function()
			local m, provider = load();
			known(provider, "alice");
			for _, f in ipairs({ "get_account_info", "is_enabled", "disable", "enable", "revoke" }) do
				assert.same({ nil, "user not found" }, { provider[f]("alcie") }, f);
			end
			assert.is_nil(m.stores.token_auth_accounts.data.alcie);
			assert.is_true(provider.is_enabled("alice"));
		end);

		it("says a known user is enabled, with no password change", function()
			local _, provider = load(nil, { now = pinned_clock });
			known(provider, "alice");
			assert.same({ created = NOW, enabled = true }, provider.get_account_info("alice"));
			assert.is_true(provider.is_enabled("alice"));
		end);

		it("disables and enables an account, stamping password_updated with its clock", function()
			local clock = movable_clock();
			local _, provider = load(nil, { now = clock.now });
			known(provider, "alice", "bob");
			assert.is_true(provider.disable("alice"));
			assert.same({ created = NOW, enabled = false, password_updated = NOW }, provider.get_account_info("alice"));
			assert.is_false(provider.is_enabled("alice"));
			assert.is_true(provider.is_enabled("bob"));
			clock.t = NOW + 5;
			assert.is_true(provider.enable("alice"));
			assert.same({ created = NOW, enabled = true, password_updated = NOW + 5 }, provider.get_account_info("alice"));
		end);

		it("nodepreps the name: disable('Alice') disables alice, and her tokens are refused", function()
			local _, provider = load();
			assert.same({ true }, { provider.test_password("alice", mint("alice")) });
			assert.is_true(provider.disable("Alice"));
			assert.is_false(provider.is_enabled("ALICE"));
			assert.is_false(provider.get_account_info("alice").enabled);
			assert.same({ nil, "account_disabled" }, { provider.test_password("alice", mint("alice")) });
			assert.is_true(provider.enable("ALICE"));
			assert.same({ true }, { provider.test_password("alice", mint("alice")) });
		end);

		it("keeps the disabled set in the module's store, so a reload keeps it", function()
			local stores = {};
			local _, provider = load(nil, { stores = stores });
			known(provider, "alice");
			provider.disable("alice", { reason = "spam" });
			assert.is_true(stores.token_auth_accounts.data.alice.disabled);
			local _, reloaded = load(nil, { stores = stores });
			assert.is_false(reloaded.is_enabled("alice"));
			assert.same({ nil, "account_disabled" }, { reloaded.test_password("alice", mint("alice")) });
		end);

		-- Stand-ins for the sessions of Prosody's host table.
		local function with_sessions(f)
			local closed = {};
			local function session(jid)
				return { close = function(_, reason) closed[#closed + 1] = { jid, reason }; end };
			end
			local saved_prosody = rawget(_G, "prosody");
			_G.prosody = { hosts = { [HOST] = { sessions = {
				alice = { sessions = { phone = session("alice/phone") } };
				bob = { sessions = { laptop = session("bob/laptop") } };
			} } } };
			local ok, err = pcall(f);
			_G.prosody = saved_prosody;
			assert(ok, err);
			table.sort(closed, function(a, b) return a[1] < b[1]; end);
			return closed;
		end

		-- Prosody 13's mod_c2s closes them too, but by the name as typed.
		it("closes the user's live sessions when disabled, by the nodeprepped name", function()
			local closed = with_sessions(function()
				local _, provider = load();
				known(provider, "alice", "bob");
				assert.is_true(provider.disable("Alice"));
			end);
			assert.same({ { "alice/phone", { condition = "not-authorized", text = "Account disabled" } } }, closed);
		end);

		it("answers a storage failure with nil, err (account info: disabled, updated now, so FAST refuses), "
			.. "and refuses logins with internal_error", function()
			local broken = { get = function() return nil, "disk on fire"; end; set = function() return nil, "disk on fire"; end };
			local m, provider = load(nil, { stores = { token_auth_accounts = broken } });
			local info = provider.get_account_info("alice");
			assert.is_false(info.enabled);
			assert.is_number(info.password_updated);
			assert.same({ nil, "disk on fire" }, { provider.is_enabled("alice") });
			assert.same({ nil, "disk on fire" }, { provider.disable("alice") });
			assert.same({ nil, "disk on fire" }, { provider.enable("alice") });
			assert.is_nil(provider.user_exists("alice"));
			assert.same({ nil, "internal_error" }, { provider.test_password("alice", mint("alice")) });
			assert.equal(1, m.counts["results/internal_error"]);
		end);

		describe("a disabled account", function()
			it("is refused account_disabled over test_password, logged and counted as such", function()
				local m, provider = load();
				known(provider, "alice");
				provider.disable("alice");
				assert.same({ nil, "account_disabled" }, { provider.test_password("alice", mint("alice")) });
				assert.equal(1, m.counts["results/account_disabled"]);
				assert.matches("Token refused for alice@example.com via test_password: account_disabled",
					table.concat(fake_module.messages(m, "info"), "\n"), 1, true);
			end);

			for _, mechanism in ipairs({ "X-TOKEN", "PLAIN" }) do
				it("gets account-disabled over " .. mechanism .. " with a valid token, other users not", function()
					local m, provider = load();
					known(provider, "alice");
					provider.disable("alice");
					assert.same({ "failure", "account-disabled" },
						{ sasl_attempt(m, provider, mechanism, "\0alice\0" .. mint("alice")) });
					assert.same({ "success" }, { sasl_attempt(m, provider, mechanism, "\0bob\0" .. mint("bob")) });
					assert.same({ ["results/account_disabled"] = 1, ["results/success"] = 1 }, m.counts);
				end);

				it("gets the token's own reason over " .. mechanism .. " when the token is bad", function()
					local m, provider = load();
					known(provider, "alice");
					provider.disable("alice");
					assert.same({ "failure", "not-authorized" },
						{ sasl_attempt(m, provider, mechanism, "\0alice\0" .. mint("bob")) });
					assert.same({ ["results/bad_signature"] = 1 }, m.counts);
				end);
			end

			it("logs in again once enabled", function()
				local m, provider = load();
				known(provider, "alice");
				provider.disable("alice");
				provider.enable("alice");
				assert.same({ "success" }, { sasl_attempt(m, provider, "X-TOKEN", "\0alice\0" .. mint("alice")) });
			end);
		end);

		describe("revocation", function()
			it("refuses the user's tokens of the revocation's step and before, accepts the next step's", function()
				local clock = movable_clock();
				local m, provider = load(nil, { now = clock.now });
				known(provider, "alice", "bob");
				local before, same_step = mint("alice", { time = NOW - 30 }), mint("alice", { time = NOW });
				assert.is_true((provider.revoke("Alice")));
				assert.same({ nil, "revoked" }, { provider.test_password("alice", before) });
				assert.same({ nil, "revoked" }, { provider.test_password("alice", same_step) });
				assert.same({ true }, { provider.test_password("bob", mint("bob", { time = NOW })) });
				clock.t = NOW + 30;
				assert.same({ nil, "revoked" }, { provider.test_password("alice", mint("alice", { time = NOW })) });
				assert.same({ true }, { provider.test_password("alice", mint("alice", { time = NOW + 30 })) });
				assert.equal(3, m.counts["results/revoked"]);
				assert.same({ created = NOW, enabled = true, password_updated = NOW }, provider.get_account_info("alice"));
			end);

			it("answers credentials-expired over X-TOKEN", function()
				local m, provider = load(nil, { now = pinned_clock });
				known(provider, "alice");
				provider.revoke("alice");
				assert.same({ "failure", "credentials-expired" },
					{ sasl_attempt(m, provider, "X-TOKEN", "\0alice\0" .. mint("alice", { time = NOW })) });
			end);

			it("closes the user's sessions only when asked", function()
				local closed = with_sessions(function()
					local _, provider = load();
					known(provider, "alice", "bob");
					assert.is_true(provider.revoke("alice"));
				end);
				assert.same({}, closed);
				closed = with_sessions(function()
					local _, provider = load();
					known(provider, "alice", "bob");
					local ok, message = provider.revoke("alice", "close");
					assert.is_true(ok);
					assert.equal("Tokens of alice@example.com minted until now are revoked; 1 sessions closed", message);
				end);
				assert.same({ { "alice/phone", { condition = "not-authorized", text = "Tokens revoked" } } }, closed);
			end);

			it("revokes a whole host: every user's older tokens, password_updated for all, sessions when asked", function()
				local clock = movable_clock();
				local closed = with_sessions(function()
					local _, provider = load(nil, { now = clock.now });
					known(provider, "alice", "bob");
					assert.is_true(provider.revoke_host("close"));
					assert.same({ nil, "revoked" }, { provider.test_password("alice", mint("alice", { time = NOW })) });
					assert.same({ nil, "revoked" }, { provider.test_password("bob", mint("bob", { time = NOW - 30 })) });
					assert.equal(NOW, provider.get_account_info("bob").password_updated);
					clock.t = NOW + 30;
					assert.same({ true }, { provider.test_password("bob", mint("bob", { time = NOW + 30 })) });
				end);
				assert.equal(2, #closed);
			end);

			it("revokes the host when a secret leaves token_secret, remembering fingerprints, never secrets", function()
				local stores = {};
				local first = load({ token_secret = { SECRET, OTHER_SECRET } }, { stores = stores, now = pinned_clock });
				assert.same({}, fake_module.messages(first, "warn"));
				local m, provider = load({ token_secret = OTHER_SECRET }, { stores = stores, now = pinned_clock });
				assert.matches("1 secret(s) left token_secret on example.com", fake_module.messages(m, "warn")[1], 1, true);
				assert.equal(NOW, stores.token_auth_host.data[fake_module.HOST_KEY].revoked);
				local token = mint("alice", { token_secret = OTHER_SECRET, time = NOW });
				assert.same({ nil, "revoked" }, { provider.test_password("alice", token) });
				local text = table.concat(dump(stores), "\n");
				assert.is_nil(text:find(SECRET, 1, true));
				assert.is_nil(text:find(OTHER_SECRET, 1, true));
			end);

			it("does not revoke when a secret is only added, or at the first start", function()
				local stores = {};
				load(nil, { stores = stores });
				local m = load({ token_secret = { SECRET, OTHER_SECRET } }, { stores = stores });
				assert.same({}, fake_module.messages(m, "warn"));
				assert.is_nil(stores.token_auth_host.data[fake_module.HOST_KEY].revoked);
			end);

			it("is reachable from Prosody 13's shell as token:revoke and token:revoke_host", function()
				local m, provider = load(nil, { now = pinned_clock });
				known(provider, "alice");
				local commands = {};
				for _, item in ipairs(m.items["shell-command"]) do
					commands[item.section .. ":" .. item.name] = item;
				end
				assert.equal("jid", commands["token:revoke"].host_selector);
				assert.equal("host", commands["token:revoke_host"].host_selector);
				local ok, message = commands["token:revoke"].handler({}, "Alice@example.com");
				assert.is_true(ok, message);
				assert.equal(NOW, provider.get_account_info("alice").password_updated);
				assert.same({ nil, "user not found" }, { commands["token:revoke"].handler({}, "alcie@example.com") });
				assert.is_nil((commands["token:revoke"].handler({}, "example.com")));
				assert.is_true((commands["token:revoke_host"].handler({}, "example.com")));
			end);
		end);
	end);

	describe("FAST's lifetime cap (token_fast_max_lifetime)", function()
		local LIFETIME = 3600;

		-- A stand-in for mod_sasl2_fast's handler: its token check answers yes.
		local function fast_check(m, username, client_id)
			local origin = { fast_sasl_handler = { profile = {
				ht_sha_256 = function(_, user) return true, user, "response"; end;
			} } };
			fake_module.fire(m, "advertise-sasl-features", { origin = origin, features = require "util.stanza".stanza("x") });
			return origin.fast_sasl_handler.profile.ht_sha_256("HT-SHA-256-NONE", username, client_id, "hash");
		end

		-- What mod_sasl2 fires after a login; fast: the login was itself FAST.
		local function sasl2_success(m, username, client_id, fast)
			fake_module.fire(m, "sasl2/c2s/success", { session = {
				username = username, client_id = client_id, fast_token_request = { mechanism = "HT-SHA-256-NONE" },
				sasl_handler = { fast = fast },
			} });
		end

		it("refuses FAST for a client that got no FAST token from a token login", function()
			local m = load({ token_allow_fast = true });
			assert.same({ nil, "credentials-expired" }, { fast_check(m, "alice", "phone") });
			assert.equal(1, m.counts["results/fast_expired"]);
		end);

		it("lets FAST through until the lifetime after the token login, rotations included", function()
			local clock = movable_clock();
			local m, provider = load({ token_allow_fast = true, token_fast_max_lifetime = LIFETIME }, { now = clock.now });
			assert.is_true(provider.test_password("alice", mint("alice", { time = NOW })));
			sasl2_success(m, "alice", "phone");
			assert.same({ true, "alice", "response" }, { fast_check(m, "alice", "phone") });
			assert.same({ nil, "credentials-expired" }, { fast_check(m, "alice", "laptop") });
			clock.t = NOW + LIFETIME - 1;
			sasl2_success(m, "alice", "phone", true); -- a FAST login that rotated its token
			assert.same({ true, "alice", "response" }, { fast_check(m, "alice", "phone") });
			clock.t = NOW + LIFETIME + 1;
			assert.same({ nil, "credentials-expired" }, { fast_check(m, "alice", "phone") });
		end);

		it("defaults to 7 days", function()
			local clock = movable_clock();
			local m = load({ token_allow_fast = true }, { now = clock.now });
			sasl2_success(m, "alice", "phone");
			clock.t = NOW + 7 * 86400;
			assert.is_true((fast_check(m, "alice", "phone")));
			clock.t = NOW + 7 * 86400 + 1;
			assert.is_nil((fast_check(m, "alice", "phone")));
		end);
	end);

	describe("FAST (mod_sasl2_fast)", function()
		local st;
		setup(function()
			st = require "util.stanza";
		end);

		local function advertised(m)
			local features = st.stanza("inline"):tag("fast", { xmlns = "urn:xmpp:fast:0" }):up()
				:tag("sm", { xmlns = "urn:xmpp:sm:3" }):up();
			local origin = { fast_sasl_handler = {} };
			fake_module.fire(m, "advertise-sasl-features", { origin = origin, features = features });
			local names = {};
			for _, tag in ipairs(features.tags) do
				names[#names + 1] = tag.name;
			end
			return names, origin.fast_sasl_handler;
		end

		it("is withheld by default: not advertised, no FAST handler, token requests dropped", function()
			local m = load();
			local names, fast_handler = advertised(m);
			assert.same({ "sm" }, names);
			assert.is_nil(fast_handler);
			local session = { fast_token_request = { mechanism = "HT-SHA-256-NONE" } };
			fake_module.fire(m, "sasl2/c2s/success", { session = session });
			assert.is_nil(session.fast_token_request);
		end);

		it("is let through with token_allow_fast = true, and FAST logins are logged and counted", function()
			local m = load({ token_allow_fast = true });
			local names, fast_handler = advertised(m);
			assert.same({ "fast", "sm" }, names);
			assert.is_table(fast_handler);
			local session = { fast_token_request = { mechanism = "HT-SHA-256-NONE" } };
			fake_module.fire(m, "sasl2/c2s/success", { session = session });
			assert.is_table(session.fast_token_request);
			fake_module.fire(m, "authentication-success", { session = { sasl_handler = { fast = true, username = "alice" } } });
			assert.equal(1, m.counts["results/fast"]);
			assert.same({ "FAST token login for alice@example.com" }, fake_module.messages(m, "info"));
		end);
	end);
end);
