-- The artifacts of `make dist`, tried where they land: the binary rock
-- installed by luarocks with no Rust toolchain on PATH, the .deb's contents
-- and lintian's verdict on it, its files extracted and installed by dpkg;
-- each then serves a real login on Debian's Prosody 0.12 (slixmpp, tokens
-- minted by pyotp + hmac and by the installed token-auth command).
-- Run from the repository root after `make dist`:  lua5.4 /usr/bin/busted --run=dist
-- (Prosody 13 and `prosodyctl install`: spec/dist/prosody13.lua.)

describe("make dist #dist", function()
	local dist = require "spec.support.dist";
	local prosody = require "spec.support.prosody";
	local shell = require "spec.support.shell";

	local quote = shell.quote;
	local SEED, SECRET = prosody.random_base32(), prosody.random_base32();
	local HOST = "a.test";

	dist.require_artifacts();
	local files = dist.files();
	local scratch = shell.temp_dir("dist-spec");
	local login_repo = dist.login_repo();

	teardown(function()
		os.execute("rm -rf " .. quote(scratch) .. " " .. quote(login_repo));
		dist.cleanup();
	end);

	local function assert_ran(out, status)
		assert.equal(0, status, out);
		return out;
	end

	local function assert_files(paths)
		for _, path in ipairs(paths) do
			assert.is_true(dist.exists(path), path .. " is missing");
		end
	end

	-- A Prosody 0.12 whose plugins and native module come only from `plugin_dir`
	-- and `cpath` (the login repo has neither); one token login through it.
	local function login_on_prosody_12(plugin_dir, cpath, user, token_for)
		local options = { otp_seed = SEED; token_secret = SECRET; allow_unencrypted_plain_auth = true };
		if plugin_dir then
			options.plugin_paths = { plugin_dir };
		end
		local server = assert(prosody.start({
			prosody = dist.PROSODY12, repo = login_repo, hosts = { HOST }, cpath = cpath, options = options,
		}));
		local ok, err = pcall(function()
			local log = server:wait_for_log("Hello and welcome to Prosody version", 5);
			assert.matches("Hello and welcome to Prosody version 0%.12%.", log);
			local token = token_for and token_for(user) or prosody.mint({ user = user, host = HOST, seed = SEED, secret = SECRET });
			local answer = server:login({ jid = user .. "@" .. HOST, mech = "X-TOKEN", password = token });
			assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
			assert.matches("^" .. user .. "@a%.test/.+", answer.jid);
			assert.matches("Token accepted for " .. user .. "@" .. HOST .. " via X-TOKEN", server:log(), 1, true);
		end);
		local log = server:log();
		server:stop();
		assert(ok, err);
		return log;
	end

	-- token-auth mint from an installed command (run in a clean environment).
	local function minter(command, env)
		return function(user)
			env.TOKEN_AUTH_SECRET, env.TOKEN_AUTH_OTP_SEED = SECRET, SEED;
			local out = assert_ran(dist.run(command .. " mint --jid " .. user .. "@" .. HOST, env));
			return (out:match("^([^\n]+)"));
		end;
	end

	describe("the binary rock", function()
		local tree = scratch .. "/tree";
		local env = { HOME = scratch .. "/home" };

		it("has no Rust toolchain to lean on: cargo and rustc are not on the PATH it installs with", function()
			local out = dist.run("command -v cargo rustc || echo none", env);
			assert.equal("none\n", out);
		end);

		it("installs with `luarocks --lua-version 5.4 install` into a --tree", function()
			os.execute("mkdir -p " .. quote(env.HOME));
			local out = assert_ran(dist.run(("luarocks --lua-version 5.4 install --tree %s %s"):format(
				quote(tree), quote(dist.rock)), env));
			assert.matches("prosody-token-auth " .. dist.version .. "-1 is now installed", out, 1, true);
			local expected = { tree .. "/lib/lua/5.4/token_auth.so", tree .. "/bin/token-auth" };
			for module in pairs(files.lua) do
				expected[#expected + 1] = dist.lua_path(tree .. "/share/lua/5.4", module);
			end
			assert_files(expected);
			-- Its native module is the one scripts/dist built, not something compiled here.
			assert.is_nil(out:lower():find("cargo", 1, true));
			local listed = assert_ran(dist.run(("luarocks --lua-version 5.4 --tree %s list --porcelain"):format(quote(tree)), env));
			assert.matches("prosody-token-auth\t" .. dist.version .. "-1\tinstalled\t", listed, 1, true);
		end);

		it("installs into the user's default tree too (--local)", function()
			local home = scratch .. "/home-local";
			os.execute("mkdir -p " .. quote(home));
			assert_ran(dist.run("luarocks --lua-version 5.4 install --local " .. quote(dist.rock), { HOME = home }));
			assert_files({ home .. "/.luarocks/lib/lua/5.4/token_auth.so", home .. "/.luarocks/share/lua/5.4/mod_auth_token.lua" });
		end);

		it("gives a working token-auth command: mint, then check, from the tree", function()
			local command = tree .. "/bin/token-auth";
			local seed = assert_ran(dist.run(command .. " new-seed", env));
			assert.matches("^[A-Z2-7]+\n$", seed);
			local token = minter(command, env)("alice");
			env.TOKEN_AUTH_SECRET, env.TOKEN_AUTH_OTP_SEED = SECRET, SEED;
			assert_ran(dist.run(("printf '%%s\\n' %s | %s check --jid alice@%s"):format(quote(token), command, HOST), env));
		end);

		it("serves a token login on Prosody 0.12 with plugin_paths and LUA_CPATH into the tree", function()
			local log = login_on_prosody_12(tree .. "/share/lua/5.4", tree .. "/lib/lua/5.4/?.so;;", "alice",
				minter(tree .. "/bin/token-auth", env));
			assert.is_nil(log:find("Loaded the native module token_auth from", 1, true)); -- require found it
		end);

		it("serves a token login on Prosody 0.12 with plugin_paths alone: the plugin finds token_auth.so in its tree", function()
			local log = login_on_prosody_12(tree .. "/share/lua/5.4", ";;", "dave");
			assert(log:find("Loaded the native module token_auth from " .. tree .. "/lib/lua/5.4/token_auth.so", 1, true),
				"mod_auth_token did not load token_auth.so from its tree (is one on Lua's default cpath, "
				.. "e.g. /usr/local/lib/lua/5.4/? Then require found that one)");
		end);
	end);

	describe("the Debian package", function()
		local multiarch_lib = "usr/lib/x86_64-linux-gnu/lua/5.4/token_auth.so";
		local expected = {
			"usr/bin/token-auth",
			multiarch_lib,
			"usr/share/doc/prosody-token-auth/copyright",
			"usr/share/doc/prosody-token-auth/changelog.gz",
			"usr/share/man/man1/token-auth.1.gz",
		};
		for module in pairs(files.lua) do
			local plugin, helper = module:match("^(mod_[^.]+)%.(.+)$");
			if plugin then
				-- A plugin's helper, beside it, where module:require finds it.
				expected[#expected + 1] = ("usr/lib/prosody/modules/%s/%s.lib.lua"):format(plugin, helper);
			elseif module:match("^mod_") then
				expected[#expected + 1] = ("usr/lib/prosody/modules/%s/%s.lua"):format(module, module);
			else
				expected[#expected + 1] = dist.lua_path("usr/share/lua/5.4", module);
			end
		end

		local function field(name)
			return (assert_ran(dist.run(("dpkg-deb --field %s %s"):format(quote(dist.deb), name))):gsub("\n$", ""));
		end

		it("holds the files where Debian looks for them, owned by root", function()
			local listing = assert_ran(dist.run("dpkg-deb --contents " .. quote(dist.deb)));
			local found = {};
			for mode, owner, path in listing:gmatch("(%S+) (%S+)%s+%d+ %S+ %S+ %./(%S*)\n") do
				assert.equal("root/root", owner, path);
				if mode:sub(1, 1) == "-" then
					found[path] = mode;
				end
			end
			for _, path in ipairs(expected) do
				assert.is_not_nil(found[path], path .. " is not in the package");
			end
			assert.equal("-rwxr-xr-x", found["usr/bin/token-auth"]);
			assert.equal("-rw-r--r--", found[multiarch_lib]);
		end);

		it("is version " .. dist.version .. " for amd64 and depends on prosody, lua5.4 and libc", function()
			assert.equal("prosody-token-auth", field("Package"));
			assert.equal(dist.version, field("Version"));
			assert.equal("amd64", field("Architecture"));
			local depends = field("Depends");
			for _, package in ipairs({ "prosody", "lua5.4", "libc6" }) do
				assert.matches("%f[%w]" .. package:gsub("%.", "%%.") .. "%f[^%w.-]", depends);
			end
		end);

		it("is lintian clean, down to pedantic tags (the one override is explained in packaging/debian/)", function()
			local out, status = dist.run("lintian --pedantic --display-info --fail-on error,warning,info,pedantic "
				.. quote(dist.deb));
			assert.equal(0, status, out);
			assert.is_nil(("\n" .. out):find("\n[EWIP]: "), out);
		end);

		describe("extracted", function()
			local root = scratch .. "/deb";

			it("serves a token login on Prosody 0.12 from its plugin and library directories", function()
				assert_ran(dist.run(("dpkg-deb --extract %s %s"):format(quote(dist.deb), quote(root))));
				-- The command's own Lua modules and token_auth.so from the package, the rest from Debian.
				local env = {
					LUA_PATH = root .. "/usr/share/lua/5.4/?.lua;;",
					LUA_CPATH = root .. "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;",
				};
				login_on_prosody_12(root .. "/usr/lib/prosody/modules", root .. "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;",
					"bob", minter(root .. "/usr/bin/token-auth", env));
			end);
		end);

		describe("installed with dpkg", function()
			local function status_of(package)
				return (dist.run("dpkg-query -W -f '${Status}' " .. package .. " 2>/dev/null"));
			end

			-- dpkg takes its lock; other jobs may hold it for a while (apt-get install).
			local function dpkg(args)
				local out, status;
				for _ = 1, 60 do
					out, status = dist.run("DEBIAN_FRONTEND=noninteractive dpkg " .. args);
					if status == 0 or not out:find("lock", 1, true) then
						break;
					end
					shell.sleep(1);
				end
				return out, status;
			end

			it("installs and removes, replacing nothing of Prosody's; Prosody 0.12 then logs in with no plugin_paths or LUA_CPATH", function()
				if dist.run("id -u") ~= "0\n" then
					pending("dpkg -i needs root");
					return;
				end
				assert.is_nil(status_of("prosody-token-auth"):find("installed", 1, true),
					"prosody-token-auth is installed on this machine already: left alone");
				local prosody_files = assert_ran(dist.run("dpkg-query -L prosody"));
				local verify_before = dist.run("dpkg --verify prosody");

				assert_ran(dpkg("--install " .. quote(dist.deb)));
				local ok, err = pcall(function()
					assert.equal("install ok installed", status_of("prosody-token-auth"));
					-- Nothing of Prosody's changed hands or contents.
					assert.equal(prosody_files, assert_ran(dist.run("dpkg-query -L prosody")));
					assert.equal(verify_before, (dist.run("dpkg --verify prosody")));
					local owned = assert_ran(dist.run("dpkg-query -L prosody-token-auth"));
					for _, path in ipairs(expected) do
						assert.matches("\n/" .. path:gsub("%p", "%%%0") .. "\n", "\n" .. owned);
						local owner = assert_ran(dist.run("dpkg-query -S /" .. path));
						assert.equal("prosody-token-auth: /" .. path .. "\n", owner);
					end
					-- The command on PATH, its modules and token_auth.so on Lua 5.4's default paths.
					assert.equal("/usr/bin/token-auth\n", dist.run("command -v token-auth", {}));
					local log = login_on_prosody_12(nil, ";;", "carol", minter("token-auth", {}));
					assert.is_nil(log:find("Loaded the native module token_auth from", 1, true));
				end);
				local removed, status = dpkg("--remove prosody-token-auth");
				assert(ok, err);
				assert.equal(0, status, removed);
				assert.is_nil(status_of("prosody-token-auth"):find("ok installed", 1, true));
				for _, path in ipairs(expected) do
					assert.is_false(dist.exists("/" .. path), "/" .. path .. " is still there");
				end
				assert.equal(prosody_files, assert_ran(dist.run("dpkg-query -L prosody")));
				assert.equal(verify_before, (dist.run("dpkg --verify prosody")));
			end);
		end);
	end);
end);
