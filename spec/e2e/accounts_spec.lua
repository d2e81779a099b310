-- End to end: accounts (issue 18) on a real Prosody (Debian's 0.12, or the 13
-- that TOKEN_AUTH_PROSODY names) with token_users = "known" (the default):
-- mail to names nobody owns bounces, disabling and revoking by any spelling
-- of a name, never by a typo, FAST ended by revocation, by a secret leaving
-- the configuration and by token_fast_max_lifetime, and two servers that
-- share one SQL database sharing account state. Real clients: slixmpp
-- (spec/support/stanza_client.py, xmpp_client.py) and the SASL2 client
-- (spec/support/sasl2_client.py); the admin's commands go through
-- `prosodyctl shell`.
-- Run from the repository root:  lua5.4 /usr/bin/busted --run=e2e spec/e2e/accounts_spec.lua

local prosody = require "spec.support.prosody";
local shell = require "spec.support.shell";
local xmpp = require "spec.support.xmpp";
local INSTALLED = prosody.installed_version() or "?";
local IS_13 = tonumber(INSTALLED:match("^(%d+)%.") or 0) >= 13;
local SHELL_MODULES = { "admin_shell"; "admin_socket" };
local FAST_MODULES = { "admin_shell"; "admin_socket"; "sasl2"; "sasl2_bind2"; "sasl2_fast" };
local CLIENT_ID = "8e1c2f4a-2b57-4d6e-9a0c-7d4f3e2b1a60";

local function away_from_step_end()
	local left = 30 - shell.now() % 30;
	if left < 4 then
		shell.sleep(left + 0.2);
	end
end

local function assert_bound(answer, user, host)
	assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
	assert.matches("^" .. user:gsub("%p", "%%%0") .. "@" .. host:gsub("%p", "%%%0") .. "/.+", answer.jid);
end

local function assert_refused(answer, condition)
	assert.is_false(answer.ok);
	assert.equal(condition, answer.condition, answer.text);
	assert.equal(0, answer.exit_status); -- a SASL <failure/>, not a hang-up
end

-- Runs one shell command; returns its output. 0.12 and 13 print results
-- differently: callers match words, not layouts.
local function admin(server, command)
	return (server:prosodyctl("shell", command));
end

-- user:disable / user:enable on 13; on 0.12 the admin calls the provider.
local function account_command(action, user, host)
	if IS_13 then
		return ("user:%s(%q)"):format(action, user .. "@" .. host);
	end
	return (">prosody.hosts[%q].users.%s(%q)"):format(host, action, user);
end

-- Logs in (PLAIN), sends what opts say and reports bounces and mail
-- (spec/support/stanza_client.py).
local function talk(server, jid, token, opts)
	opts = opts or {};
	local args = { "--port", tostring(server.port), "--jid", jid, "--password", token };
	shell.optional_flag(args, "--message-to", opts.message_to and table.concat(opts.message_to, ","));
	shell.optional_flag(args, "--subscribe-to", opts.subscribe_to and table.concat(opts.subscribe_to, ","));
	shell.optional_flag(args, "--wait", opts.wait);
	local out = shell.capture(shell.command_line("/usr/bin/python3 "
		.. shell.quote(server.repo .. "/spec/support/stanza_client.py"), args) .. " 2>&1");
	local line = out:match("({[^\n]*})%s*$");
	return assert(line and xmpp.json_decode(line), "stanza_client.py gave no answer: " .. out);
end

describe("Accounts with token authentication #e2e", function()
	local SEED, SECRET, OLD_SECRET = prosody.random_base32(), prosody.random_base32(), prosody.random_base32();
	local HOST, REVOKE_HOST, FAST_HOST, CAP_HOST = "a.test", "r.test", "fast.test", "cap.test";
	local CAP = 4; -- token_fast_max_lifetime on CAP_HOST, seconds
	local server;

	local function mint(user, host, opts)
		opts = opts or {};
		return prosody.mint({ user = user, host = host or HOST, seed = SEED, secret = opts.secret or SECRET,
			time = opts.time });
	end
	-- A token of the next OTP step: newer than a revocation made now.
	local function mint_next(user, host, opts)
		opts = opts or {};
		opts.time = math.floor(shell.now()) + 30;
		return mint(user, host, opts);
	end
	local function login(user, host, token)
		return server:login({ jid = user .. "@" .. (host or HOST), mech = "X-TOKEN", password = token or mint(user, host) });
	end
	local function sasl2(user, host, opts)
		opts.jid, opts.mech = user .. "@" .. host, opts.mech or "X-TOKEN";
		opts.client_id = opts.client_id or CLIENT_ID;
		return server:sasl2_login(opts);
	end
	local function fast_login(user, host, fast_token)
		return sasl2(user, host, { mech = "HT-SHA-256-NONE", fast_token = fast_token });
	end
	local function logged_during(f)
		local before = #server:log();
		f();
		return server:log():sub(before + 1);
	end

	setup(function()
		server = assert(prosody.start({
			hosts = { HOST, REVOKE_HOST, FAST_HOST, CAP_HOST },
			modules = IS_13 and FAST_MODULES or SHELL_MODULES,
			options = {
				otp_seed = SEED;
				token_secret = { SECRET, OLD_SECRET };
			};
			host_options = {
				[FAST_HOST] = { token_allow_fast = true };
				[CAP_HOST] = { token_allow_fast = true; token_fast_max_lifetime = CAP; sasl2_fast_token_min_ttl = 0 };
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

	describe("known users (token_users = \"known\")", function()
		it("bounce mail and subscriptions to 30 names nobody has, and store nothing for them", function()
			local ghosts = {};
			for i = 1, 30 do
				ghosts[i] = ("ghost%02d@%s"):format(i, HOST);
			end
			local answer = talk(server, "alice@" .. HOST, mint("alice"), { message_to = ghosts, subscribe_to = ghosts });
			assert.is_true(answer.ok, answer.text);
			local expected = {};
			for _, ghost in ipairs(ghosts) do
				expected[ghost] = "service-unavailable";
			end
			assert.same(expected, answer.bounced);
			local files = shell.capture("find " .. shell.quote(server.dir .. "/data") .. " -name '*ghost*'");
			assert.equal("", files);
		end);

		it("keep mail for a user the admin created before their first login", function()
			local out = admin(server, "user:create('carol@a.test', 'unused')");
			assert.matches("[Cc]reated", out);
			local answer = talk(server, "alice@" .. HOST, mint("alice"), { message_to = { "carol@" .. HOST } });
			assert.same({}, answer.bounced);
			local carol = talk(server, "carol@" .. HOST, mint("carol"), { wait = 1.5 });
			assert.is_true(carol.ok, carol.text);
			assert.same({ { from = "alice@" .. HOST, body = "hello carol@" .. HOST } }, carol.received);
		end);

		it("exist from their first token login or prosodyctl register, are listed, and are forgotten when deleted", function()
			assert_bound(login("dave"), "dave", HOST);
			assert.same({}, talk(server, "alice@" .. HOST, mint("alice"), { message_to = { "dave@" .. HOST } }).bounced);
			local _, status = server:prosodyctl("register", "ruth", HOST, "unused-password");
			assert.equal(0, status);
			local list = admin(server, "user:list('a.test')");
			assert.matches("alice", list, 1, true);
			assert.matches("dave", list, 1, true);
			assert.matches("ruth", list, 1, true);
			assert.is_nil(list:find("ghost", 1, true), list);
			admin(server, "user:delete('dave@a.test')");
			assert.same({ ["dave@" .. HOST] = "service-unavailable" },
				talk(server, "alice@" .. HOST, mint("alice"), { message_to = { "dave@" .. HOST } }).bounced);
		end);
	end);

	describe("disabling", function()
		it("by a mixed-case name closes the session, refuses tokens, and is undone by enable", function()
			local session = server:session({ jid = "erin@" .. HOST, mech = "X-TOKEN", password = mint("erin"), hold = 10 });
			assert_bound(session:login(), "erin", HOST);
			local out = admin(server, account_command("disable", "Erin", HOST));
			assert.matches(IS_13 and "User disabled" or "Result: true", out, 1, true);
			assert.same({ closed = true, condition = "not-authorized", text = "Account disabled" }, session:closed());
			assert_refused(login("erin"), "account-disabled");
			admin(server, account_command("enable", "ERIN", HOST));
			assert_bound(login("erin"), "erin", HOST);
		end);

		it("a name nobody has (a typo) is an error, not a success", function()
			assert_bound(login("alice"), "alice", HOST);
			local out = admin(server, account_command("disable", "alcie", HOST));
			-- 13's user:disable asks user_exists first; 0.12's shell reaches the provider.
			assert.matches(IS_13 and "No such user" or "user not found", out, 1, true);
			assert.is_nil(out:find("User disabled", 1, true), out);
			assert.is_nil(out:find("Result: true", 1, true), out);
			assert_bound(login("alice"), "alice", HOST);
		end);
	end);

	describe("revocation", function()
		it("of a user refuses their tokens minted until now, closes their sessions, and leaves others alone", function()
			away_from_step_end();
			local session = server:session({ jid = "gina@" .. HOST, mech = "X-TOKEN", password = mint("gina"), hold = 10 });
			assert_bound(session:login(), "gina", HOST);
			local minted_before = mint("gina");
			local out = admin(server, "token:revoke('Gina@a.test', 'close')");
			assert.matches("revoked", out, 1, true);
			assert.same({ closed = true, condition = "not-authorized", text = "Tokens revoked" }, session:closed());
			local log = logged_during(function()
				assert_refused(login("gina", HOST, minted_before), "credentials-expired");
			end);
			assert.matches("Token refused for gina@a.test via X-TOKEN: revoked", log, 1, true);
			assert_bound(login("alice"), "alice", HOST);
			assert_bound(login("gina", HOST, mint_next("gina")), "gina", HOST);
		end);

		it("of a host refuses every token of that host minted until now", function()
			away_from_step_end();
			assert_bound(login("hank", REVOKE_HOST), "hank", REVOKE_HOST);
			local out = admin(server, "token:revoke_host('r.test')");
			assert.matches("revoked", out, 1, true);
			assert_refused(login("hank", REVOKE_HOST), "credentials-expired");
			assert_refused(login("ivy", REVOKE_HOST), "credentials-expired");
			assert_bound(login("alice"), "alice", HOST);
			assert_bound(login("ivy", REVOKE_HOST, mint_next("ivy", REVOKE_HOST)), "ivy", REVOKE_HOST);
		end);

		it("from `token-auth revoke` reaches the running Prosody through prosodyctl shell", function()
			local function token_auth_revoke(jid)
				return shell.capture(("lua5.4 %s/bin/token-auth revoke --jid %s --config %s --prosodyctl %s 2>&1"):format(
					shell.quote(server.repo), shell.quote(jid), shell.quote(server.config_path),
					shell.quote(server.prosodyctl_path)));
			end
			away_from_step_end();
			assert_bound(login("liz"), "liz", HOST);
			local out, status = token_auth_revoke("Liz@A.test");
			assert.equal(0, status, out);
			assert.matches("revoked", out, 1, true);
			assert_refused(login("liz"), "credentials-expired");
			out, status = token_auth_revoke("lzi@a.test");
			assert.equal(1, status, out);
			assert.matches("user not found", out, 1, true);
		end);

		it("of a name nobody has is an error", function()
			assert.matches("user not found", admin(server, "token:revoke('nobody@a.test')"), 1, true);
		end);
	end);

	describe("FAST (Prosody 13)", function()
		if not IS_13 then
			pending("Prosody " .. INSTALLED .. " has no SASL2 or FAST");
			return;
		end

		it("ends when the user's tokens are revoked", function()
			local first = sasl2("ivan", FAST_HOST, { password = mint("ivan", FAST_HOST), request_token = "HT-SHA-256-NONE" });
			assert_bound(first, "ivan", FAST_HOST);
			local fast = assert(first.fast_token, "no FAST token");
			assert_bound(fast_login("ivan", FAST_HOST, fast), "ivan", FAST_HOST);
			admin(server, "token:revoke('ivan@fast.test')");
			assert_refused(fast_login("ivan", FAST_HOST, fast), "credentials-expired");
		end);

		it("ends token_fast_max_lifetime after the token login, however often it rotates", function()
			local started = shell.now();
			local first = sasl2("jack", CAP_HOST, { password = mint("jack", CAP_HOST), request_token = "HT-SHA-256-NONE" });
			assert_bound(first, "jack", CAP_HOST);
			local fast = assert(first.fast_token, "no FAST token");
			for _ = 1, 2 do
				shell.sleep(1.1); -- sasl2_fast_token_min_ttl = 0: every FAST login past a second rotates
				local again = fast_login("jack", CAP_HOST, fast);
				assert_bound(again, "jack", CAP_HOST);
				fast = assert(again.fast_token, "no rotation");
			end
			shell.sleep(math.max(0, started + CAP + 0.5 - shell.now()));
			local log = logged_during(function()
				assert_refused(fast_login("jack", CAP_HOST, fast), "credentials-expired");
			end);
			assert.matches("jack@cap.test via HT-SHA-256-NONE: fast_expired", log, 1, true);
			assert_bound(sasl2("jack", CAP_HOST, { password = mint("jack", CAP_HOST) }), "jack", CAP_HOST);
		end);
	end);

	-- Last: it restarts the server with one secret fewer, which revokes every host.
	describe("a secret leaving token_secret", function()
		it("revokes the tokens signed until the restart, ends FAST, and a disabled user stays disabled", function()
			local fast;
			if IS_13 then
				local first = sasl2("kate", FAST_HOST, { password = mint("kate", FAST_HOST, { secret = OLD_SECRET }),
					request_token = "HT-SHA-256-NONE" });
				assert_bound(first, "kate", FAST_HOST);
				fast = assert(first.fast_token, "no FAST token");
			end
			admin(server, account_command("disable", "Erin", HOST));
			away_from_step_end();
			local config = assert(shell.read_file(server.config_path));
			local rotated, n = config:gsub("\ntoken_secret = [^\n]*", ("\ntoken_secret = %q"):format(SECRET));
			assert.equal(1, n);
			shell.write_file(server.config_path, rotated);
			assert(server:restart());
			local left = "1 secret(s) left token_secret on a.test";
			assert.matches(left, server:wait_for_log(left), 1, true);
			assert_refused(login("alice"), "credentials-expired");
			assert_refused(login("erin", HOST, mint_next("erin")), "account-disabled");
			assert_refused(login("alice", HOST, mint_next("alice", HOST, { secret = OLD_SECRET })), "not-authorized");
			assert_bound(login("alice", HOST, mint_next("alice")), "alice", HOST);
			if fast then
				assert_refused(fast_login("kate", FAST_HOST, fast), "credentials-expired");
			end
		end);
	end);

	describe("after all of that", function()
		it("the log holds no Lua traceback, no error and no secret", function()
			local log = server:log();
			assert.is_nil(log:find("traceback", 1, true));
			assert.is_nil(log:find("\terror\t", 1, true), log:match("[^\n]*\terror\t[^\n]*"));
			for _, secret in ipairs({ SEED, SECRET, OLD_SECRET }) do
				assert.is_nil(log:find(secret, 1, true));
			end
		end);
	end);
end);

describe("Two Prosody servers sharing one SQL database #e2e", function()
	local SEED, SECRET = prosody.random_base32(), prosody.random_base32();
	local HOST = "a.test";
	local dir, one, two;

	local function mint(user, time)
		return prosody.mint({ user = user, host = HOST, seed = SEED, secret = SECRET, time = time });
	end
	local function login(server, user, token)
		return server:login({ jid = user .. "@" .. HOST, mech = "X-TOKEN", password = token or mint(user) });
	end

	setup(function()
		dir = shell.temp_dir("prosody-token-auth-cluster");
		local spec = {
			hosts = { HOST },
			modules = SHELL_MODULES,
			options = {
				otp_seed = SEED;
				token_secret = SECRET;
				storage = "sql";
				sql = { driver = "SQLite3"; database = dir .. "/shared.sqlite" };
			};
		};
		one = assert(prosody.start(spec));
		two = assert(prosody.start(spec));
	end);

	teardown(function()
		for _, server in ipairs({ one, two }) do
			server:stop();
		end
		if dir then
			os.execute("rm -rf " .. shell.quote(dir));
		end
	end);

	it("know the same users: created on one, listed on the other", function()
		assert.matches("[Cc]reated", admin(one, "user:create('lee@a.test', 'unused')"));
		assert_bound(login(one, "mia"), "mia", HOST);
		local list = admin(two, "user:list('a.test')");
		assert.matches("lee", list, 1, true);
		assert.matches("mia", list, 1, true);
	end);

	it("disabled on one: refused on the other at the next login; enabled again likewise", function()
		assert_bound(login(two, "ned"), "ned", HOST);
		admin(one, account_command("disable", "Ned", HOST));
		assert_refused(login(two, "ned"), "account-disabled");
		admin(one, account_command("enable", "ned", HOST));
		assert_bound(login(two, "ned"), "ned", HOST);
	end);

	it("revoked on one: refused on the other at the next login", function()
		away_from_step_end();
		assert_bound(login(two, "oli"), "oli", HOST);
		assert.matches("revoked", admin(one, "token:revoke('oli@a.test')"), 1, true);
		assert_refused(login(two, "oli"), "credentials-expired");
		assert_bound(login(two, "oli", mint("oli", math.floor(shell.now()) + 30)), "oli", HOST);
	end);

	it("the logs hold no error", function()
		for _, server in ipairs({ one, two }) do
			local log = server:log();
			assert.is_nil(log:find("\terror\t", 1, true), log:match("[^\n]*\terror\t[^\n]*"));
		end
	end);
end);
