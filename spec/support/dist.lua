-- The artifacts of `make dist` and what the specs under spec/dist/ need to
-- try them where they land.
--
--   local dist = require "spec.support.dist"
--   dist.version                -> Cargo.toml's version, e.g. "0.1.0"
--   dist.rock, dist.deb         -> paths of the binary rock for Lua 5.4 and the .deb (absolute)
--   dist.rocks                  -> { ["5.4"] = path, ["5.3"] = path, ["5.2"] = path }: a rock per Lua
--   dist.require_artifacts()    -> raises unless they all exist (run `make dist`)
--   dist.files()                -> { lua = { [module] = path }, bin = { [name] = path } }
--                                  (packaging/manifest.lua: the rockspec's install table)
--   dist.run(command, env)      -> all output (stdout and stderr), exit status;
--                                  with `env` (a table) the command runs in a clean
--                                  environment: PATH without cargo or rustc, a
--                                  private HOME, and only the variables given
--   dist.cleanup()              -> removes that private HOME (call it in teardown)
--   dist.exists(path), dist.lua_path(tree_dir, module)
--   dist.login_repo()           -> a scratch "repository" holding only spec/support:
--                                  given as `repo` to spec/support/prosody.lua, its
--                                  plugin_paths line points at an empty lua/ and no
--                                  build/ is copied, so the plugins and token_auth.so
--                                  can only come from where the artifact put them
--   dist.prosody_version(executable)  -> the version that executable runs, e.g. "13.0.1"
--   dist.PROSODY12, dist.PROSODY13    -> Debian's Prosody, and the 13 that scripts/setup unpacks

local shell = require "spec.support.shell";

local quote, read_file = shell.quote, shell.read_file;

local dist = {};

local repo = shell.repo_root();
dist.repo = repo;

-- A PATH on which neither cargo nor rustc can be found (rustup puts them in ~/.cargo/bin).
dist.CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
dist.PROSODY12 = "/usr/bin/prosody";
dist.PROSODY13 = "/opt/prosody-token-auth/prosody13/bin/prosody";

dist.version = assert((read_file(repo .. "/Cargo.toml") or ""):match('\nversion = "([^"]+)"'),
	"no version in Cargo.toml");
dist.rocks = {};
for _, lua in ipairs({ "5.4", "5.3", "5.2" }) do
	dist.rocks[lua] = ("%s/dist/lua%s/prosody-token-auth-%s-1.linux-x86_64.rock"):format(repo, lua, dist.version);
end
dist.rock = dist.rocks["5.4"];
dist.deb = ("%s/dist/prosody-token-auth_%s_amd64.deb"):format(repo, dist.version);

function dist.exists(path)
	local f = io.open(path, "rb");
	if f then
		f:close();
	end
	return f ~= nil;
end

function dist.require_artifacts()
	for _, path in ipairs({ dist.rocks["5.4"], dist.rocks["5.3"], dist.rocks["5.2"], dist.deb }) do
		assert(dist.exists(path), path .. " is missing: run `make dist` first");
	end
end

local sorted_keys = shell.sorted_keys;

-- One private HOME for the commands that are given none; dist.cleanup() removes it.
local default_home;

function dist.cleanup()
	if default_home then
		os.execute("rm -rf " .. quote(default_home));
		default_home = nil;
	end
end

function dist.run(command, env)
	if env then
		default_home = default_home or (not env.HOME and shell.temp_dir("dist-home")) or nil;
		local words = { "env -i", "PATH=" .. dist.CLEAN_PATH, "HOME=" .. quote(env.HOME or default_home) };
		for _, k in ipairs(sorted_keys(env)) do
			if k ~= "HOME" then
				words[#words + 1] = k .. "=" .. quote(env[k]);
			end
		end
		command = table.concat(words, " ") .. " sh -c " .. quote(command);
	end
	local out, status = shell.capture("cd " .. quote(repo) .. " && " .. command .. " 2>&1");
	return out, status;
end

function dist.files()
	local out, status = dist.run(("lua5.4 packaging/manifest.lua prosody-token-auth-scm-1.rockspec files"));
	assert(status == 0, out);
	local files = { lua = {}, bin = {} };
	for kind, name, path in out:gmatch("(%S+) (%S+) (%S+)\n") do
		files[kind][name] = path;
	end
	return files;
end

-- Where a Lua module lies under a Lua directory: token_auth.cli -> DIR/token_auth/cli.lua.
function dist.lua_path(dir, module)
	return dir .. "/" .. module:gsub("%.", "/") .. ".lua";
end

function dist.login_repo()
	local dir = shell.temp_dir("dist-repo");
	os.execute(("mkdir -p %s/spec %s/lua && ln -s %s %s/spec/support"):format(
		quote(dir), quote(dir), quote(repo .. "/spec/support"), quote(dir)));
	return dir;
end

-- As Prosody itself reads it: prosody.version in the executable's CFG_SOURCEDIR.
function dist.prosody_version(executable)
	local source_dir = (read_file(executable) or ""):match("\nCFG_SOURCEDIR%s*=%s*'([^']+)'");
	local text = source_dir and read_file(source_dir .. "/prosody.version");
	return text and text:match("^%s*(%S+)");
end

return dist;
