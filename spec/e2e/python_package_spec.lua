-- End to end: tokens minted by the Python package (python/src, run with the
-- .venv that scripts/setup makes) log in to a real Prosody, on hosts
-- configured with the default options and with non-default ones (digits,
-- period, algorithm, nonce length, rotated secrets). Logins go over STARTTLS
-- (spec/support/prosody.lua starts Prosody with TLS, encryption required).
-- Run from the repository root:  lua5.4 /usr/bin/busted --run=e2e

describe("Prosody with tokens from the Python package #e2e", function()
	local prosody = require "spec.support.prosody";
	local shell = require "spec.support.shell";

	local PYTHON = prosody.repo_root() .. "/.venv/bin/python";
	local MINT = "import sys; from prosody_token_auth import make_token; "
		.. "u, h, seed, digits, period, algorithm, nonce_length, fold, *secrets = sys.argv[1:]; "
		.. "print(make_token(u, h, seed, secrets, digits=int(digits), period=int(period), "
		.. "algorithm=algorithm, nonce_length=int(nonce_length), fold_names=fold == 'fold'))";

	local SEED = prosody.random_base32();
	local NEW, OLD = prosody.random_base32(), prosody.random_base32();
	local DEFAULTS = { digits = 8, period = 30, algorithm = "SHA1", nonce_length = 32 };
	local CUSTOM = { digits = 10, period = 120, algorithm = "SHA512", nonce_length = 16 };
	local SHORT = { digits = 6, period = 5, algorithm = "SHA256", nonce_length = 128 };
	local hosts = { ["default.test"] = DEFAULTS, ["custom.test"] = CUSTOM, ["short.test"] = SHORT };

	local server;
	local minted = {};

	-- A token from the package, as an application would mint it; `secrets` is
	-- the application's list (the first one signs).
	-- fold = "fold": make_token(..., fold_names=True).
	local function run_mint(user, host, secrets, options, fold)
		local o = options or hosts[host];
		local words = { "PYTHONPATH=" .. shell.quote(prosody.repo_root() .. "/python/src"), PYTHON, "-c",
			shell.quote(MINT), shell.quote(user), host, SEED, o.digits, o.period, o.algorithm, o.nonce_length,
			fold or "-" };
		for _, s in ipairs(secrets or { NEW }) do
			words[#words + 1] = shell.quote(s);
		end
		return shell.capture(table.concat(words, " ") .. " 2>&1");
	end
	local function mint(user, host, secrets, options, fold)
		local out, status = run_mint(user, host, secrets, options, fold);
		assert(status == 0, "the package failed: " .. out);
		local token = out:gsub("\n$", "");
		minted[#minted + 1] = token;
		return token;
	end

	local function login(user, host, token, mech)
		return server:login({ jid = user .. "@" .. host, mech = mech or "X-TOKEN", password = token });
	end

	local function assert_bound(answer, jid)
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert.equal(jid, answer.jid:match("^[^/]+"));
		assert.equal("TLSv1.3", answer.tls);
	end

	setup(function()
		local function host_options(o)
			return { token_otp_digits = o.digits; token_otp_period = o.period; token_otp_algorithm = o.algorithm;
				token_nonce_length = o.nonce_length };
		end
		local custom = host_options(CUSTOM);
		custom.token_secret = { NEW, OLD }; -- rotation: both verify
		server = assert(prosody.start({
			hosts = { "default.test", "custom.test", "short.test" },
			options = { otp_seed = SEED; token_secret = NEW };
			host_options = { ["custom.test"] = custom, ["short.test"] = host_options(SHORT) },
		}));
	end);

	teardown(function()
		if server then
			server:stop();
		end
	end);

	it("logs in with the default options over X-TOKEN and PLAIN", function()
		assert_bound(login("alice", "default.test", mint("alice", "default.test")), "alice@default.test");
		assert_bound(login("bob", "default.test", mint("bob", "default.test"), "PLAIN"), "bob@default.test");
	end);

	it("refuses a name that nodeprep changes, and signs the name Prosody checks when told to fold", function()
		local out, status = run_mint("Carol", "default.test");
		assert.not_equal(0, status);
		assert.matches("UnpreparedUsername: username 'Carol' is 'carol' after nodeprep", out, 1, true);
		-- The client logs in as "Carol"; Prosody nodepreps it to "carol", the
		-- package signed "carol" although it was asked for "Carol".
		assert_bound(login("Carol", "default.test", mint("Carol", "default.test", nil, nil, "fold"), "PLAIN"),
			"carol@default.test");
	end);

	it("logs in with 10 digits, 120 s, SHA512, 16-digit nonces and either rotated secret", function()
		assert_bound(login("dave", "custom.test", mint("dave", "custom.test", { NEW, OLD })), "dave@custom.test");
		assert_bound(login("erin", "custom.test", mint("erin", "custom.test", { OLD })), "erin@custom.test");
	end);

	it("logs in with 6 digits, 5 s, SHA256 and 128-digit nonces", function()
		assert_bound(login("frank", "short.test", mint("frank", "short.test")), "frank@short.test");
	end);

	it("is refused as a replay the second time", function()
		local token = mint("grace", "custom.test");
		assert_bound(login("grace", "custom.test", token), "grace@custom.test");
		local again = login("grace", "custom.test", token, "PLAIN");
		assert.is_false(again.ok);
		assert.equal("not-authorized", again.condition);
		assert.matches("Token refused for grace@custom%.test via PLAIN: replayed", server:log());
	end);

	it("is refused on a host whose options it was not minted for", function()
		local answer = login("heidi", "custom.test", mint("heidi", "custom.test", { NEW }, DEFAULTS));
		assert.is_false(answer.ok);
		assert.matches("Token refused for heidi@custom%.test via X%-TOKEN: nonce_length", server:log());
	end);

	it("leaves no token or secret in the log", function()
		local log = server:log();
		assert.is_true(#minted >= 8);
		for _, secret in ipairs({ SEED, NEW, OLD, table.unpack(minted) }) do
			assert.is_nil(log:find(secret, 1, true));
		end
	end);
end);
