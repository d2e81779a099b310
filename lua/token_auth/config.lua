-- The token-auth command's reader of Prosody configuration files.
--
-- A config is evaluated in a sandbox: only VirtualHost, Component,
-- Include, Credential, ENV_ names and plain assignments mean anything;
-- every other name reads as a value that absorbs calls and operators, so
-- nothing in the file can run commands or open files other than its
-- Includes and credentials. Evaluation has a budget of instructions and
-- memory, so `while true do end` fails instead of hanging. Errors say the file, the line and the kind of error, never
-- the text near it: a config holds secrets, and under extauth standard
-- error is the server's log.
--
-- Hosts are keyed by their nameprepped name, as Prosody keys them
-- (`VirtualHost "Mixed.Test"` serves mixed.test). Options are read
-- generically over `token_auth.options`, the core's list.

local output = require "token_auth.output"

-- While a config runs, strings index only `safe_string` (below): the
-- functions called from the config use these locals, not methods.
local byte, sub, match, gsub, sort = string.byte, string.sub, string.match, string.gsub, table.sort

local config = {}

-- Budgets. A real Prosody config runs a few thousand instructions and
-- allocates kilobytes; these are three orders of magnitude above that.
config.MAX_INSTRUCTIONS = 2000000
config.MAX_MEMORY_KB = 64 * 1024
config.MAX_FILE_BYTES = 1024 * 1024
config.MAX_INCLUDE_DEPTH = 10

-- What an unknown name reads as in the file: absorbs calls, indexing and operators.
local ignored
local ignored_mt = {}
ignored = setmetatable({}, ignored_mt)
local function return_ignored() return ignored end
for _, event in ipairs({ "__index", "__call", "__concat", "__add", "__sub", "__mul", "__div", "__mod", "__pow",
	"__unm", "__idiv", "__band", "__bor", "__bxor", "__shl", "__shr", "__bnot" }) do
	ignored_mt[event] = return_ignored
end
ignored_mt.__newindex = function () end
ignored_mt.__tostring = function () return "(ignored)" end
config.ignored = ignored

-- An error of ours: its text is written by this file, never taken from the config.
local our_error_mt = {}
local function fail(message)
	error(setmetatable({ message = message }, our_error_mt), 0)
end

-- Lua's compile errors, by a phrase of their fixed part, in our own words.
local syntax_kinds = {
	{ "unfinished long string", "an unfinished long string" },
	{ "unfinished long comment", "an unfinished long comment" },
	{ "unfinished string", "an unfinished string (a missing quote)" },
	{ "malformed number", "a malformed number" },
	{ "invalid escape sequence", "an invalid escape sequence in a string" },
	{ "invalid long string delimiter", "an invalid long string delimiter" },
	{ "decimal escape too large", "an invalid escape sequence in a string" },
	{ "UTF%-8 value too large", "an invalid escape sequence in a string" },
	{ "hexadecimal digit expected", "an invalid escape sequence in a string" },
	{ "missing '{'", "an invalid escape sequence in a string" },
	{ "ambiguous syntax", "an ambiguous function call across lines" },
	{ "<eof> expected", "something after the end of a block (an extra `end`?)" },
	{ "expected", "something missing (a comma, a quote, a bracket or an `end`?)" },
	{ "unexpected symbol", "an unexpected symbol (a missing comma or operator?)" },
	{ "too many", "a construct nested or repeated too often" },
	{ "too complex", "a construct nested or repeated too often" },
	{ "too long", "a construct nested or repeated too often" },
	{ "overflow", "a construct nested or repeated too often" },
}

local lua_types = { ["nil"] = true, boolean = true, number = true, string = true, table = true,
	["function"] = true, userdata = true, thread = true }

local function describe_compile_error(message, file)
	local rest = message
	if sub(rest, 1, #file + 1) == file .. ":" then rest = sub(rest, #file + 2) end
	local line, text = match(rest, "^(%d+): (.*)$")
	local fixed = gsub(text or rest, " near .*$", "")
	local kind = "a syntax error"
	for _, candidate in ipairs(syntax_kinds) do
		if string.find(fixed, candidate[1]) then
			kind = "a syntax error: " .. candidate[2]
			break
		end
	end
	return file .. (line and (":" .. line) or "") .. ": " .. kind
end

local function describe_runtime_error(e)
	if type(e) == "table" and getmetatable(e) == our_error_mt then return e.message end
	if type(e) == "string" then
		-- Lua 5.1 and LuaJIT name the variable: "attempt to index local 'x' (a nil value)".
		local verb, a, kind = e:match("attempt to ([%a ]-) %a+ '.-' %((an?) (%a+) value%)")
		if not verb then verb, a, kind = e:match("attempt to ([%a ]-) (an?) (%a+) value") end
		if verb and lua_types[kind] then
			return "a runtime error: attempt to " .. verb .. " " .. a .. " " .. kind .. " value"
		end
		local op, left, right = e:match("attempt to (%a+) a '(%a+)' with a '(%a+)'")
		if op and lua_types[left] and lua_types[right] then
			return "a runtime error: attempt to " .. op .. " a " .. left .. " with a " .. right
		end
		if e:find("stack overflow", 1, true) then return "a runtime error: stack overflow" end
		if e:find("not enough memory", 1, true) then return "a runtime error: out of memory" end
	end
	return "a runtime error (an error raised by the configuration; its text is not shown)"
end

-- String methods the config may use. `("x"):rep(1e10)` or a pattern
-- search is one instruction that the budget could not interrupt.
local safe_string = {
	len = string.len, sub = string.sub, upper = string.upper, lower = string.lower, byte = string.byte,
}

-- Reads a file of at most MAX_FILE_BYTES. Only what can seek is read: a
-- FIFO or a terminal (`Include "/dev/stdin"`, which under extauth is the
-- server's request pipe) would block, or swallow requests.
local function read_file(path)
	local has_lfs, lfs = pcall(require, "lfs")
	local mode = has_lfs and lfs.attributes(path, "mode")
	if mode and mode ~= "file" then return nil, path .. ": not a regular file (a " .. mode .. ")" end
	local f, e = io.open(path, "rb")
	if not f then return nil, e end
	local size = f:seek("end")
	if not size then
		f:close()
		return nil, path .. ": not a regular file"
	end
	if size > config.MAX_FILE_BYTES then
		f:close()
		return nil, path .. ": larger than 1 MB"
	end
	f:seek("set")
	local data, read_err = f:read(config.MAX_FILE_BYTES + 1)
	f:close()
	if data == nil and read_err then return nil, read_err end
	data = data or ""
	if #data > config.MAX_FILE_BYTES then return nil, path .. ": larger than 1 MB" end
	return data
end

-- Credential(name [, mode]) as Prosody 13 reads it (core/configmanager.lua):
-- the file `name` under $CREDENTIALS_DIRECTORY (a name starting with "/" as
-- it is), whole and byte for byte, a trailing newline included, or its
-- first line with mode "*l". When it cannot be read the value is a marker:
-- an option set from it fails when it is used, naming the option, the
-- file and the directory; an option nobody uses does not matter.
local credential_mt = {}

local function credential(name, mode)
	if type(name) ~= "string" then fail("Credential needs a file name (a string)") end
	if mode ~= nil and mode ~= "*a" and mode ~= "a" and mode ~= "*l" and mode ~= "l" then
		fail("Credential: only the modes \"*a\" (the default) and \"*l\" are understood")
	end
	local shown = "Credential(\"" .. output.printable(name) .. "\")"
	local dir = os.getenv("CREDENTIALS_DIRECTORY")
	if dir == nil or dir == "" then
		return setmetatable({ problem = shown .. " needs $CREDENTIALS_DIRECTORY, which is not set"
			.. " (systemd sets it for a service with LoadCredential=)" }, credential_mt)
	end
	local path = name
	if sub(name, 1, 1) ~= "/" then
		path = gsub(dir, "/+$", "") .. "/" .. gsub(name, "^%./+", "")
	end
	local data, e = read_file(path)
	if not data then
		return setmetatable({ problem = shown .. ": cannot read " .. output.printable(tostring(e), 300)
			.. " ($CREDENTIALS_DIRECTORY is " .. output.printable(dir, 200) .. ")" }, credential_mt)
	end
	if mode == "*l" or mode == "l" then data = match(data, "^[^\n]*") end
	return data
end

local function compile(source, chunkname, env)
	if byte(source, 1) == 27 then return nil, nil, "binary chunks are not accepted" end
	if setfenv then -- luacheck: ignore 113
		local fn, e = loadstring(source, chunkname) -- luacheck: ignore 113
		if not fn then return nil, e end
		setfenv(fn, env) -- luacheck: ignore 113
		return fn
	end
	return load(source, chunkname, "t", env)
end

local function list_dir(dir)
	local ok, lfs = pcall(require, "lfs")
	if not ok then return nil end
	local names = {}
	local iter_ok, iter, state = pcall(lfs.dir, dir)
	if not iter_ok then return names end
	for name in iter, state do names[#names + 1] = name end
	sort(names)
	return names
end

-- Evaluates a Prosody config in a sandbox, within the budget.
-- Returns { global = {}, hosts = { [nameprepped] = {} }, host_order = {}, path } | nil, message.
function config.load(token_auth, path)
	local result = { global = {}, hosts = {}, host_order = {}, path = path }
	local current = result.global
	local env = {}
	local depth = 0
	local base_dir = match(path, "^(.*)/[^/]*$") or "."
	local evaluate
	local files = {} -- chunkname -> path, to place runtime errors

	local function set_options(section, options)
		if type(options) == "table" then
			for k, v in pairs(options) do
				if type(k) == "string" then section[k] = v end
			end
		end
	end

	local function virtualhost(name)
		if type(name) ~= "string" then fail("VirtualHost needs a host name (a string)") end
		local host, problem = token_auth.nameprep(name)
		if not host then
			fail("VirtualHost " .. output.printable(name) .. " is not a valid host name (nameprep): it " .. problem)
		end
		local section = result.hosts[host]
		if not section then
			section = {}
			result.hosts[host] = section
			result.host_order[#result.host_order + 1] = host
		end
		current = section
		return function (options) set_options(section, options) end
	end

	local function component(name)
		if type(name) ~= "string" then fail("Component needs a host name (a string)") end
		local section = {} -- a component's options apply to no VirtualHost
		current = section
		return function (arg)
			if type(arg) == "table" then set_options(section, arg) end
			return function (options) set_options(section, options) end
		end
	end

	local function include(file)
		if type(file) ~= "string" then fail("Include needs a file name (a string)") end
		if sub(file, 1, 1) ~= "/" then file = base_dir .. "/" .. file end
		local dir, pattern = match(file, "^(.*)/([^/]*%*[^/]*)$")
		if not dir then return evaluate(file) end
		local names = list_dir(dir)
		if not names then fail("Include with a wildcard needs LuaFileSystem (lfs)") end
		local lua_pattern = "^" .. gsub(gsub(pattern, "[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"), "%*", ".*") .. "$"
		for _, name in ipairs(names) do
			if match(name, lua_pattern) then evaluate(dir .. "/" .. name) end
		end
	end

	local functions = {
		VirtualHost = virtualhost, virtualhost = virtualhost, Host = virtualhost, host = virtualhost,
		Component = component, component = component,
		Include = include, include = include,
		Credential = credential,
		RunScript = function () end,
	}

	setmetatable(env, {
		__index = function (_, key)
			if functions[key] then return functions[key] end
			if type(key) == "string" then
				local var = match(key, "^ENV_(.+)$")
				if var then return os.getenv(var) end
			end
			local value = current[key]
			if value == nil then value = result.global[key] end
			if value ~= nil then return value end
			return ignored
		end;
		__newindex = function (_, key, value) current[key] = value end;
	})

	function evaluate(file)
		depth = depth + 1
		if depth > config.MAX_INCLUDE_DEPTH then fail(file .. ": Include nested too deeply") end
		local source, read_err = read_file(file)
		if not source then fail("cannot read " .. tostring(read_err)) end
		local fn, compile_err, ours = compile(source, "@" .. file, env)
		if not fn then
			fail(ours and (file .. ": " .. ours) or describe_compile_error(compile_err, file))
		end
		files["@" .. file] = file
		-- Like Prosody: a file starts in the global section, and an Include
		-- does not change the section of the file that includes it.
		local saved = current
		current = result.global
		fn()
		current = saved
		depth = depth - 1
	end

	-- The budget: a count hook on every instruction (cheap at a config's
	-- size) that also watches the heap.
	local instructions = 0
	local memory_limit = collectgarbage("count") + config.MAX_MEMORY_KB
	local function budget()
		instructions = instructions + 1
		if instructions > config.MAX_INSTRUCTIONS then
			debug.sethook() -- once: the handler and the caller must not trip it again
			fail("the configuration ran for more than " .. config.MAX_INSTRUCTIONS
				.. " Lua instructions without finishing (an endless loop?)")
		end
		if collectgarbage("count") > memory_limit then
			collectgarbage()
			if collectgarbage("count") > memory_limit then
				debug.sethook()
				fail("the configuration used more than " .. math.floor(config.MAX_MEMORY_KB / 1024) .. " MB of memory")
			end
		end
	end

	-- Where a runtime error happened: the innermost level in a config file.
	local function locate(e)
		for level = 2, 200 do
			local info = debug.getinfo(level, "Sl")
			if not info then break end
			local file = files[info.source]
			if file and info.currentline and info.currentline > 0 then
				return { error = e, where = file .. ":" .. info.currentline }
			end
		end
		return { error = e }
	end

	local string_mt = getmetatable("")
	local string_index = string_mt.__index
	string_mt.__index = safe_string
	local hook, mask, count = debug.gethook()
	debug.sethook(budget, "", 1)
	local ok, e = xpcall(function () return evaluate(path) end, locate)
	debug.sethook(hook, mask, count)
	string_mt.__index = string_index
	if not ok then
		local message = describe_runtime_error(e.error)
		if e.where then message = e.where .. ": " .. message end
		return nil, message
	end
	return result
end

-- Reads the configuration named by --config / TOKEN_AUTH_CONFIG, plus the environment.
function config.get(token_auth, options)
	local path = options.config or os.getenv("TOKEN_AUTH_CONFIG")
	local result
	if path and path ~= "" then
		local e
		result, e = config.load(token_auth, path)
		if not result then return nil, "cannot read the configuration: " .. e end
	else
		result = { global = {}, hosts = {}, host_order = {} }
	end
	local env_secret, env_seed = os.getenv("TOKEN_AUTH_SECRET"), os.getenv("TOKEN_AUTH_OTP_SEED")
	if result.global.token_secret == nil and env_secret and env_secret ~= "" then
		result.global.token_secret = env_secret
	end
	if result.global.otp_seed == nil and env_seed and env_seed ~= "" then
		result.global.otp_seed = env_seed
	end
	return result
end

function config.where(result)
	return result.path and ("in " .. result.path) or "(no --config given)"
end

-- The problem of a Credential() behind `value` (or in its list), if any.
local function credential_problem(value)
	if getmetatable(value) == credential_mt then return value.problem end
	if type(value) == "table" then
		for _, v in pairs(value) do
			if getmetatable(v) == credential_mt then return v.problem end
		end
	end
	return nil
end

local function holds_ignored(value)
	if value == ignored then return true end
	if type(value) == "table" then
		for _, v in pairs(value) do
			if v == ignored then return true end
		end
	end
	return false
end

-- The config table for a (nameprepped) host: its VirtualHost options over
-- the global ones, every option of token_auth.options by its Prosody name.
-- for_verifier: keep the options only a verifier takes. Validated by the
-- core. Returns the table, or nil and a message naming the option.
function config.settings(token_auth, result, host, for_verifier)
	local section = host and result.hosts[host] or {}
	local settings, problem = {}, nil
	local prosody_name = {}
	for _, option in ipairs(token_auth.options) do prosody_name[option.name] = option.prosody end
	-- Is any of the core's options `names` set, here or globally?
	local function any_set(names)
		for _, name in ipairs(names or {}) do
			local key = prosody_name[name]
			if section[key] ~= nil or result.global[key] ~= nil then return true end
		end
		return false
	end
	for _, option in ipairs(token_auth.options) do
		local value = section[option.prosody]
		if value == nil then value = result.global[option.prosody] end
		if value ~= nil and (for_verifier or not option.verifier_only) then
			local unread = credential_problem(value)
			if unread then
				problem = option.prosody .. " = " .. unread
				break
			end
			if holds_ignored(value) then
				problem = option.prosody .. " is set from something this tool cannot evaluate"
				break
			end
			settings[option.name] = value
		elseif value == nil and option.required and not any_set(option.required_unless) then
			problem = "no " .. option.prosody .. " " .. config.where(result)
				.. ": set it globally or in the host's VirtualHost section"
				.. (option.name == "token_secret" and ", or TOKEN_AUTH_SECRET"
					or option.name == "otp_seed" and ", or TOKEN_AUTH_OTP_SEED" or "")
			break
		end
	end
	if not problem then
		local made, verifier, _, name, text = pcall(token_auth.new_verifier, settings)
		if not made then
			problem = output.first_line(verifier)
		elseif not verifier then
			-- The core names its option ("window"); say it as the
			-- configuration file does ("token_otp_window").
			local shown = name
			for _, option in ipairs(token_auth.options) do
				if option.name == name then shown = option.prosody break end
			end
			problem = shown .. ": " .. text
		end
	end
	if problem then
		return nil, "configuration error for host " .. (host or "(global options)") .. ": " .. problem
	end
	return settings
end

return config
