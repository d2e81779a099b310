-- How mod_auth_token finds the native module when `require "token_auth"`
-- cannot: in the LuaRocks tree the plugin was installed into (what
-- `prosodyctl install` makes on Prosody 13, whose package.cpath leaves that
-- tree out), or beside the plugin file. A fake `module` with a real path,
-- the real token_auth.so copied there. Runs under Prosody's Lua (lua5.4).

describe("mod_auth_token's native module #plugins", function()
	local fake_module = require "spec.support.fake_module";
	if not fake_module.ready() then
		return;
	end
	local shell = require "spec.support.shell";
	local token_auth = require "token_auth";

	-- package.cpath without the entries that find token_auth: Prosody's own C
	-- libraries stay within reach, the native module does not.
	local function cpath_without_token_auth()
		local kept = {};
		for entry in package.cpath:gmatch("[^;]+") do
			if not package.searchpath("token_auth", entry) then
				kept[#kept + 1] = entry;
			end
		end
		return table.concat(kept, ";");
	end

	local HOST = "example.com";
	local SEED, SECRET = token_auth.new_seed(), token_auth.new_secret();
	local _, build = shell.interpreter();
	local so = "build/" .. build .. "/token_auth.so";
	local scratch = shell.temp_dir("native-spec");

	teardown(function()
		os.execute("rm -rf " .. shell.quote(scratch));
	end);

	-- Loads the plugin as if from `plugin_file`, with `library` (or nothing) put
	-- where it is expected and require unable to find token_auth.
	local function load_from(plugin_file, library_path, library_data)
		os.execute("mkdir -p " .. shell.quote(plugin_file:match("^(.*)/")));
		if library_path then
			os.execute("mkdir -p " .. shell.quote(library_path:match("^(.*)/")));
			shell.write_file(library_path, library_data or shell.read_file(so));
		end
		local m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET });
		m.path = plugin_file;
		local saved_cpath, saved_module = package.cpath, package.loaded.token_auth;
		package.cpath, package.loaded.token_auth = cpath_without_token_auth(), nil;
		local ok, err = fake_module.load_plugin(m);
		package.cpath, package.loaded.token_auth = saved_cpath, saved_module;
		return m, ok, err;
	end

	local function assert_serves(m, ok, err, library_path)
		assert(ok, err);
		local token = token_auth.generate_token("alice", HOST, { otp_seed = SEED, token_secret = SECRET });
		assert.same({ true }, { m.provided.auth.test_password("alice", token) });
		assert.equal("Loaded the native module token_auth from " .. library_path, fake_module.messages(m, "debug")[1]);
	end

	it("comes from the LuaRocks tree the plugin was installed into (<tree>/lib/lua/5.4/)", function()
		local tree = scratch .. "/tree";
		local library = tree .. "/lib/lua/5.4/token_auth.so";
		local m, ok, err = load_from(tree .. "/share/lua/5.4/mod_auth_token.lua", library);
		assert_serves(m, ok, err, library);
	end);

	it("comes from beside the plugin file", function()
		local dir = scratch .. "/plugins";
		local m, ok, err = load_from(dir .. "/mod_auth_token.lua", dir .. "/token_auth.so");
		assert_serves(m, ok, err, dir .. "/token_auth.so");
	end);

	it("that is not a loadable library there stops the module with the loader's reason", function()
		local dir = scratch .. "/broken";
		local _, ok, err = load_from(dir .. "/mod_auth_token.lua", dir .. "/token_auth.so", "not an ELF file");
		assert.is_false(ok);
		assert.matches("cannot load the native module token_auth (" .. dir .. "/token_auth.so", err, 1, true);
	end);

	-- Loads the plugin as if its files had been copied alone to `dir`: no
	-- token_auth.native on package.path nor beside it; with `find_module`,
	-- token_auth stays within reach of package.cpath.
	local function load_alone(dir, find_module)
		os.execute("mkdir -p " .. shell.quote(dir));
		local m = fake_module.new(HOST, "auth_token", { otp_seed = SEED, token_secret = SECRET });
		m.path = dir .. "/mod_auth_token.lua";
		local kept = {};
		for entry in package.path:gmatch("[^;]+") do
			if not shell.read_file((entry:gsub("%?", "token_auth/native"))) then
				kept[#kept + 1] = entry;
			end
		end
		local saved_path, saved_locator = package.path, package.loaded["token_auth.native"];
		local saved_cpath, saved_module = package.cpath, package.loaded.token_auth;
		package.path, package.loaded["token_auth.native"] = table.concat(kept, ";"), nil;
		if not find_module then
			package.cpath, package.loaded.token_auth = cpath_without_token_auth(), nil;
		end
		local ok, err = fake_module.load_plugin(m);
		package.path, package.loaded["token_auth.native"] = saved_path, saved_locator;
		package.cpath, package.loaded.token_auth = saved_cpath, saved_module;
		return m, ok, err;
	end

	it("copied without its locator (token_auth/native.lua) still loads token_auth from package.cpath", function()
		local m, ok, err = load_alone(scratch .. "/alone", true);
		assert(ok, err);
		local token = token_auth.generate_token("alice", HOST, { otp_seed = SEED, token_secret = SECRET });
		assert.same({ true }, { m.provided.auth.test_password("alice", token) });
		for _, message in ipairs(fake_module.messages(m, "debug")) do
			assert.is_nil(message:find("Loaded the native module", 1, true), message);
		end
	end);

	it("copied without its locator and token_auth off package.cpath stops the module with install instructions", function()
		local _, ok, err = load_alone(scratch .. "/alone-nothing", false);
		assert.is_false(ok);
		assert.matches("cannot load the native module token_auth", err, 1, true);
		assert.matches("package.cpath", err, 1, true);
	end);

	it("found nowhere stops the module with install instructions", function()
		local _, ok, err = load_from(scratch .. "/empty/mod_auth_token.lua");
		assert.is_false(ok);
		assert.matches("cannot load the native module token_auth", err, 1, true);
		assert.matches("package.cpath", err, 1, true);
	end);
end);
