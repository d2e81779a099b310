-- Where the native module token_auth comes from: the one place that knows,
-- for the token-auth command, the Prosody plugin and the specs.
--
-- A native module is built for one Lua ABI. In a checkout `make build`
-- leaves one per interpreter in build/<tag>/token_auth.so; a rock puts it in
-- <tree>/lib/lua/<version>/ beside the Lua files in <tree>/share/lua/<version>/.
-- No side effects on require; runs under Lua 5.1 to 5.4 and LuaJIT.

local native = {}

-- The build of the running interpreter: "lua54", "lua51", ... or "luajit"
-- (the directory under build/, and `make build-<tag>`).
function native.tag()
	if type(jit) == "table" then return "luajit" end -- luacheck: ignore 113
	return "lua" .. _VERSION:gsub("%D", "")
end

-- The running interpreter, for messages: "Lua 5.4", "LuaJIT 2.1.0-beta3".
function native.interpreter()
	return type(jit) == "table" and jit.version or _VERSION -- luacheck: ignore 113
end

-- Puts a checkout's build for the running interpreter first on package.cpath.
function native.use_checkout(root)
	package.cpath = root .. "/build/" .. native.tag() .. "/?.so;" .. package.cpath
end

-- Where token_auth.so lies for a Lua file installed at `file`: in the
-- LuaRocks tree the file lies in, then beside it.
local function candidates(file)
	local dir = type(file) == "string" and file:match("^(.*)/[^/]*$")
	if not dir then return {} end
	local list = {}
	local tree, version = dir:match("^(.*)/share/lua/(%d+%.%d+)$")
	if tree then list[1] = tree .. "/lib/lua/" .. version .. "/token_auth.so" end
	list[#list + 1] = dir .. "/token_auth.so"
	return list
end

-- Loads token_auth by `require` (package.cpath) or, failing that, from
-- where a Lua file installed at `file` expects it (see candidates; Prosody
-- 13.0.1 leaves a `prosodyctl install` tree's lib/ off package.cpath).
-- Returns the module, plus the path it came from when not by require; or
-- nil and why (require's message, or the loader's for a file found there).
function native.load(file)
	local ok, module = pcall(require, "token_auth")
	if ok then return module end
	for _, path in ipairs(candidates(file)) do
		local found = io.open(path, "rb")
		if found then
			found:close()
			local open, problem = package.loadlib(path, "luaopen_token_auth")
			if not open then return nil, problem end
			module = open("token_auth")
			package.loaded.token_auth = module -- later requires reuse it
			return module, path
		end
	end
	return nil, module
end

return native
