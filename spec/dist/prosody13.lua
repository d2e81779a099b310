-- The binary rock through Prosody 13's own installer: `prosodyctl install
-- ./dist/<rock>` puts it into the plugin-install tree, and with only
-- authentication = "token", the two options and modules_enabled =
-- { "sasl_token" } a token login works: no plugin_paths into the tree, no
-- LUA_CPATH. Prosody 13.0.1 leaves that tree's lib/lua/5.4/ off
-- package.cpath, so this also proves that mod_auth_token finds token_auth.so
-- there itself.
-- Run from the repository root after `make dist`, with Prosody 13 first on PATH
-- (scripts/test does this):
--   PATH=/opt/prosody-token-auth/prosody13/bin:$PATH TOKEN_AUTH_PROSODY=/opt/prosody-token-auth/prosody13/bin/prosody \
--     lua5.4 /usr/bin/busted --run=dist13

describe("prosodyctl install on Prosody 13 #dist #prosody13", function()
	local dist = require "spec.support.dist";
	local prosody = require "spec.support.prosody";
	local shell = require "spec.support.shell";

	local quote = shell.quote;
	local PROSODYCTL = dist.PROSODY13 .. "ctl";
	local SEED, SECRET = prosody.random_base32(), prosody.random_base32();
	local HOST = "a.test";

	-- A missing prerequisite is a failure, not a skip.
	assert(dist.exists(dist.PROSODY13) and dist.exists(PROSODYCTL),
		dist.PROSODY13 .. " is missing: scripts/setup unpacks Prosody 13 there (run `make setup`)");
	dist.require_artifacts();

	local scratch = shell.temp_dir("dist13-spec");
	local plugins = scratch .. "/custom_plugins"; -- the installer tree (installer_plugin_path)
	local login_repo = dist.login_repo();

	teardown(function()
		os.execute("rm -rf " .. quote(scratch) .. " " .. quote(login_repo));
		dist.cleanup();
	end);

	it("runs Prosody 13 for this suite", function()
		assert.matches("^13%.", dist.prosody_version(dist.PROSODY13));
		assert.equal(dist.PROSODY13 .. "\n", (dist.run("command -v prosody")));
	end);

	it("installs the rock with `prosodyctl install ./dist/<rock>`, with no cargo or rustc on PATH", function()
		local config = scratch .. "/install.cfg.lua";
		-- run_as_root: as root, prosodyctl would otherwise switch to the prosody
		-- user, who cannot read our private temp dir.
		shell.write_file(config, ("installer_plugin_path = %q\ndata_path = %q\nrun_as_root = true\n"):format(plugins, scratch));
		local out, status = dist.run(("%s --config %s install %s"):format(
			quote(PROSODYCTL), quote(config), quote(dist.rock)), { HOME = scratch });
		assert.equal(0, status, out);
		assert.matches("prosody-token-auth " .. dist.version .. "-1 is now installed in " .. plugins, out, 1, true);
		for _, path in ipairs({ "share/lua/5.4/mod_auth_token.lua", "share/lua/5.4/mod_sasl_token.lua",
			"lib/lua/5.4/token_auth.so", "lib/luarocks/rocks-5.4/manifest" }) do
			assert.is_true(dist.exists(plugins .. "/" .. path), path .. " is not in the installer tree");
		end
	end);

	it("then serves a token login with no plugin_paths and no LUA_CPATH into that tree", function()
		-- The harness always writes a plugin_paths line: the login repo's lua/ is
		-- empty. LUA_CPATH ";;" is Lua's default cpath, as with none at all.
		local server = assert(prosody.start({
			prosody = dist.PROSODY13, repo = login_repo, hosts = { HOST }, cpath = ";;",
			options = {
				installer_plugin_path = plugins;
				otp_seed = SEED; token_secret = SECRET;
			};
		}));
		local ok, err = pcall(function()
			local log = server:wait_for_log("Hello and welcome to Prosody version", 5);
			assert.matches("Hello and welcome to Prosody version 13%.", log);
			local token = prosody.mint({ user = "alice", host = HOST, seed = SEED, secret = SECRET });
			local answer = server:login({ jid = "alice@" .. HOST, mech = "X-TOKEN", password = token });
			assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
			assert.matches("^alice@a%.test/.+", answer.jid);
			log = server:log();
			assert.matches("Token accepted for alice@" .. HOST .. " via X-TOKEN", log, 1, true);
			-- require could not find it: the plugin loaded it from its own tree.
			assert(log:find("Loaded the native module token_auth from " .. plugins .. "/lib/lua/5.4/token_auth.so", 1, true),
				"mod_auth_token did not load token_auth.so from the installer tree (is one on Lua's default cpath, "
				.. "e.g. /usr/local/lib/lua/5.4/? Then require found that one)");
		end);
		server:stop();
		assert(ok, err);
	end);

	it("serves a token login from the .deb's files too (extracted; plugin_paths and LUA_CPATH into them)", function()
		local root = scratch .. "/deb";
		local out, status = dist.run(("dpkg-deb --extract %s %s"):format(quote(dist.deb), quote(root)));
		assert.equal(0, status, out);
		local server = assert(prosody.start({
			prosody = dist.PROSODY13, repo = login_repo, hosts = { HOST },
			cpath = root .. "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;",
			options = {
				plugin_paths = { root .. "/usr/lib/prosody/modules" };
				otp_seed = SEED; token_secret = SECRET;
			};
		}));
		local ok, err = pcall(function()
			assert.matches("Hello and welcome to Prosody version 13%.", server:wait_for_log("Hello and welcome", 5));
			local token = prosody.mint({ user = "bob", host = HOST, seed = SEED, secret = SECRET });
			local answer = server:login({ jid = "bob@" .. HOST, mech = "X-TOKEN", password = token });
			assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
			assert.matches("^bob@a%.test/.+", answer.jid);
		end);
		server:stop();
		assert(ok, err);
	end);
end);
