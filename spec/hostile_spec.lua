-- Hostile Lua input to every exported function and method of the native
-- module: wrong types, nil, huge strings, NUL bytes, invalid UTF-8,
-- negative / NaN / huge times, tables with hostile metatables, and bad
-- values for every configuration option.
--
-- Each call must either return what the API documents (`nil, reason` for a
-- refused token, `nil, message` from new_verifier) or raise a clean error
-- that names the function or the argument; never crash, never print a Rust
-- panic. Panics are caught by mlua and turned into Lua errors, but the
-- panic hook still writes "thread ... panicked" to stderr, so the whole
-- matrix is also run in a child interpreter whose stderr must stay empty.
--
-- Run as a plain script (`lua5.4 spec/hostile_spec.lua`) this file is that
-- child: it makes every hostile call and prints how many it made.

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7"
local NONCE = "01234567890123456789012345678901"
local T = 1700000010
-- An HS256 JWT for alice, valid at T, made by PyJWT 2.15 with JWT_SECRET.
local JWT_SECRET = "a JWT secret for the hostile spec, 32+ bytes"
local JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDMxMCwiaWF0IjoxNzAwMDAwMDEwLCJqdGkiOiJob3N0aWxlIn0"
	.. ".VI-VIjMtj_j78aO1oms6TMDvBDF072LOoEh4inT0SFA"

local function config(extra)
	local c = { otp_seed = SEED, token_secret = SECRET }
	for k, v in pairs(extra or {}) do c[k] = v end
	return c
end

-- A metatable whose every metamethod fails loudly: reading a table through
-- it must not be needed, and if it is, the result is a clean Lua error.
local HOSTILE_MT_ERROR = "hostile metamethod called"
local function hostile_table(contents)
	local function fail() error(HOSTILE_MT_ERROR, 2) end
	return setmetatable(contents or {}, {
		__index = fail, __newindex = fail, __len = fail, __pairs = fail, __ipairs = fail,
		__tostring = fail, __concat = fail, __eq = fail, __lt = fail, __le = fail, __call = fail,
		__unm = fail, __add = fail, __name = "hostile", __metatable = "locked",
	})
end

-- Values that no argument expects. The huge string is 1 MiB.
local function hostile_values()
	local huge = ("7"):rep(1024 * 1024)
	return {
		{ "nil", nil },
		{ "false", false },
		{ "true", true },
		{ "zero", 0 },
		{ "a negative number", -1 },
		{ "NaN", 0 / 0 },
		{ "infinity", math.huge },
		{ "minus infinity", -math.huge },
		{ "2^53 + 2", 2 ^ 53 + 2 },
		{ "2^64", 2 ^ 64 },
		{ "-2^63", -2 ^ 63 },
		{ "a fraction", 0.5 },
		{ "an empty string", "" },
		{ "a 1 MiB string", huge },
		{ "a 1 MiB string of spaces", (" "):rep(1024 * 1024) },
		{ "NUL bytes", "ali\0ce" },
		{ "invalid UTF-8", "\255\254\192\128\237\160\128" },
		{ "a number-like string", "12345678" },
		{ "an empty table", {} },
		{ "a list", { SECRET, SEED } },
		{ "a table with a hostile metatable", hostile_table() },
		{ "a function", print },
		{ "a coroutine", coroutine.create(function() end) },
		{ "a userdata", io.stdout },
	}
end

-- Every exported function and method, with valid arguments to start from.
local function entry_points(token_auth)
	local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
	local verifier = assert(token_auth.new_verifier(config()))
	local both = assert(token_auth.new_verifier(config({ jwt_secret = JWT_SECRET, jwt_single_use = false })))
	local jwt = assert(token_auth.new_jwt_verifier({ jwt_secret = JWT_SECRET, jwt_single_use = false }))
	return {
		{ name = "totp", f = token_auth.totp, args = { SEED, { time = T } }, config_at = 2 },
		{ name = "verify_token", f = token_auth.verify_token, verdict = true,
			args = { "alice", "example.com", token, config { time = T } }, config_at = 4 },
		{ name = "generate_token", f = token_auth.generate_token,
			args = { "alice", "example.com", config { time = T, nonce = NONCE } }, config_at = 3 },
		{ name = "new_verifier", f = token_auth.new_verifier, args = { config() }, config_at = 1 },
		{ name = "explain", f = token_auth.explain,
			args = { "alice", "example.com", token, config { time = T } }, config_at = 4 },
		{ name = "new_seed", f = token_auth.new_seed, args = {} },
		{ name = "new_secret", f = token_auth.new_secret, args = {} },
		{ name = "verifier:verify", f = verifier.verify, verdict = true, method = true,
			args = { verifier, "alice", "example.com", token, T } },
		{ name = "verifier:begin_verify", f = verifier.begin_verify, verdict = true, method = true,
			args = { verifier, "alice", "example.com", token, T } },
		{ name = "verifier:collect", f = verifier.collect, args = { verifier } },
		{ name = "verifier:abandon", f = verifier.abandon, args = { verifier, "example.com" } },
		{ name = "verifier:store_socket", f = verifier.store_socket, args = { verifier } },
		{ name = "verifier:stats", f = verifier.stats, args = { verifier } },
		{ name = "tostring(verifier)", f = tostring, args = { verifier } },
		{ name = "new_jwt_verifier", f = token_auth.new_jwt_verifier, args = { { jwt_secret = JWT_SECRET } },
			config_at = 1 },
		{ name = "jwt_verifier:verify", f = jwt.verify, method = true, args = { jwt, JWT, T } },
		{ name = "jwt_verifier:set_keys", f = jwt.set_keys, method = true, args = { jwt, "{}", true } },
		{ name = "jwt_verifier:keys", f = jwt.keys, method = true, args = { jwt } },
		{ name = "verifier:verify (JWT)", f = both.verify, verdict = true, method = true,
			args = { both, "alice", "example.com", JWT, T } },
		{ name = "verifier:verify_bearer", f = both.verify_bearer, method = true, args = { both, "example.com", JWT, T } },
		{ name = "verifier:bearer_username", f = both.bearer_username, method = true,
			args = { both, "example.com", JWT, T } },
		{ name = "verifier:set_jwt_keys", f = both.set_jwt_keys, method = true, args = { both, "{}", true } },
		{ name = "verifier:jwt_keys", f = both.jwt_keys, method = true, args = { both } },
		{ name = "explain (JWT)", f = token_auth.explain,
			args = { "alice", "example.com", JWT, config { time = T, jwt_secret = JWT_SECRET } }, config_at = 4 },
	}
end

local function copy(list, n)
	local out = {}
	for i = 1, n do out[i] = list[i] end
	return out
end

-- Every call: each argument position (and one past the end) replaced by
-- each hostile value, and each field of a config table too. A case is
-- { label, entry point, argument list, argument count }.
local function hostile_calls(token_auth)
	local calls = {}
	local values = hostile_values()
	for _, entry in ipairs(entry_points(token_auth)) do
		local n = #entry.args
		calls[#calls + 1] = { entry.name .. " with no arguments", entry, {}, 0 }
		for position = 1, n + 1 do
			for _, value in ipairs(values) do
				local args = copy(entry.args, n)
				args[position] = value
				local label = ("%s with %s as argument %d"):format(entry.name, value[1], position)
				calls[#calls + 1] = { label, entry, args, math.max(n, position), replaced = position }
			end
		end
		if entry.config_at then
			local base = entry.args[entry.config_at]
			local fields = {}
			for key in pairs(base) do fields[#fields + 1] = key end
			for _, key in ipairs({ "digits", "period", "algorithm", "window", "nonce_length",
				"replay_capacity", "time", "nonce", "jwt_keys", "jwt_keys_url", "jwt_algorithms", "jwt_leeway",
				"jwt_issuer", "jwt_single_use" }) do
				if base[key] == nil then fields[#fields + 1] = key end
			end
			table.sort(fields)
			for _, key in ipairs(fields) do
				for _, value in ipairs(values) do
					local args = copy(entry.args, n)
					local c = {}
					for k, v in pairs(base) do c[k] = v end
					c[key] = value[2]
					args[entry.config_at] = c
					calls[#calls + 1] = { ("%s with %s as %s"):format(entry.name, value[1], key), entry, args, n }
				end
			end
			for _, key in ipairs({ 1, true, 2.5, "\0", "\255\254", ("k"):rep(100000), "otp_seed\0" }) do
				local args = copy(entry.args, n)
				local c = {}
				for k, v in pairs(base) do c[k] = v end
				c[key] = SECRET
				args[entry.config_at] = c
				calls[#calls + 1] = { ("%s with an odd key %q"):format(entry.name, tostring(key):sub(1, 10)), entry, args, n }
			end
			local args = copy(entry.args, n)
			local c = {}
			for k, v in pairs(base) do c[k] = v end
			args[entry.config_at] = hostile_table(c)
			calls[#calls + 1] = { entry.name .. " with a config behind a hostile metatable", entry, args, n }
		end
	end
	return calls
end

local unpack = table.unpack or unpack -- luacheck: ignore 143

local function pack(...)
	return { n = select("#", ...), ... }
end

local function run(call)
	local entry, args, n = call[2], call[3], call[4]
	return pcall(entry.f, unpack(args, 1, n))
end

if not describe then
	-- The child: make every call, report the count. Errors are expected;
	-- what matters is what reaches stderr and how the process ends.
	local token_auth = require "token_auth"
	local count = 0
	for _, call in ipairs(hostile_calls(token_auth)) do
		run(call)
		count = count + 1
	end
	collectgarbage()
	io.write("calls: ", count, "\n")
	return
end

describe("token_auth under hostile input", function()
	local token_auth = require "token_auth"

	-- An error must be a message about the call, not a crash report, and
	-- must not carry a secret.
	local function assert_clean_error(label, err)
		local text = tostring(err)
		assert(type(text) == "string", label)
		assert(not text:find("panick", 1, true), label .. ": " .. text)
		assert(not text:find(SEED, 1, true) and not text:find(SECRET, 1, true), label .. ": leaks a secret")
		local named = text:find("token_auth%.") or text:find("bad argument", 1, true)
			or text:find(HOSTILE_MT_ERROR, 1, true)
		assert(named, label .. ": an error that names nothing: " .. text)
	end

	local function assert_documented_result(label, entry, ...)
		local first, second, third, fourth = ...
		if entry.verdict then
			if first ~= true then
				assert(first == nil and token_auth.reasons[second], label .. ": not nil, reason: " .. tostring(second))
			end
		elseif entry.name == "jwt_verifier:verify" then
			if first == nil then
				assert(token_auth.reasons[second], label .. ": not nil, reason: " .. tostring(second))
			else
				assert(type(first) == "table" and first.sub == "alice", label)
			end
		elseif entry.name == "verifier:verify_bearer" or entry.name == "verifier:bearer_username" then
			assert(first == "alice" or (first == nil and token_auth.reasons[second]), label .. ": " .. tostring(second))
		elseif entry.name == "jwt_verifier:set_keys" or entry.name == "verifier:set_jwt_keys" then
			assert(first == true or (first == nil and type(second) == "string"), label)
		elseif entry.name == "jwt_verifier:keys" or entry.name == "verifier:jwt_keys" then
			assert(type(first) == "table" and type(second) == "number", label)
		elseif entry.name == "new_verifier" or entry.name == "new_jwt_verifier" then
			if first == nil then
				assert(token_auth.config_problems[second], label .. ": no problem code")
				assert(type(third) == "string" and type(fourth) == "string", label .. ": no option or text")
				assert(not fourth:find(SECRET, 1, true) and not fourth:find(SEED, 1, true), label .. ": leaks a secret")
			else
				assert(type(first) == "userdata", label)
			end
		elseif entry.name == "explain" or entry.name == "explain (JWT)" then
			assert(type(first) == "table" and type(first.ok) == "boolean", label)
			assert(first.ok or token_auth.reasons[first.reason], label)
		elseif entry.name == "verifier:stats" then
			assert(type(first) == "table" and first.replay_entries <= first.replay_capacity, label)
		elseif entry.name == "verifier:collect" or entry.name == "verifier:abandon" then
			assert(type(first) == "table" and next(first) == nil, label) -- no store: never a verdict to collect
		elseif entry.name == "verifier:store_socket" then
			assert(first == nil and second == nil, label)
		else
			assert(type(first) == "string" and #first > 0, label .. ": " .. tostring(first))
		end
	end

	it("returns a documented result or raises a clean error for every hostile call", function()
		local calls = hostile_calls(token_auth)
		assert.is_true(#calls > 1000)
		for _, call in ipairs(calls) do
			local results = pack(run(call))
			if results[1] then
				assert_documented_result(call[1], call[2], unpack(results, 2, results.n))
			else
				assert_clean_error(call[1], results[2])
			end
		end
	end)

	it("never accepts a token for a hostile username, host or token", function()
		for _, call in ipairs(hostile_calls(token_auth)) do
			local entry, args = call[2], call[3]
			-- The username, host and token are arguments 1 to 3, after self.
			local first = entry.method and 2 or 1
			if entry.verdict and call.replaced and call.replaced >= first and call.replaced <= first + 2 then
				if first == 2 then args[1] = assert(token_auth.new_verifier(config())) end
				local results = pack(pcall(entry.f, unpack(args, 1, call[4])))
				assert(results[2] ~= true, call[1] .. ": accepted")
			end
		end
	end)

	it("uses usernames, hosts and tokens byte for byte, NUL bytes included", function()
		local c = config { time = T, nonce = NONCE }
		local token = token_auth.generate_token("ali\0ce", "exa\0mple.com", c)
		c.nonce = nil
		assert.same({ true }, { token_auth.verify_token("ali\0ce", "exa\0mple.com", token, c) })
		assert.same({ nil, "bad_signature" }, { token_auth.verify_token("ali", "exa\0mple.com", token, c) })
		assert.same({ nil, "bad_signature" }, { token_auth.verify_token("ali\0ce", "exa", token, c) })
		assert.same({ nil, "bad_signature" }, { token_auth.verify_token("ali\0ce\0", "exa\0mple.com", token, c) })
		assert.same({ nil, "bad_encoding" }, { token_auth.verify_token("ali\0ce", "exa\0mple.com", token .. "\0", c) })
		assert.same({ nil, "malformed" }, { token_auth.verify_token("ali\0ce", "exa\0mple.com", token:sub(1, 10) .. "\0" ..
			token:sub(12), c) })
	end)

	it("refuses megabyte tokens, usernames and hosts with a reason", function()
		local huge = ("7"):rep(1024 * 1024)
		local c = config { time = T }
		local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
		assert.same({ nil, "malformed" }, { token_auth.verify_token("alice", "example.com", huge, c) })
		assert.same({ nil, "malformed" }, { token_auth.verify_token("alice", "example.com", token .. huge, c) })
		assert.same({ nil, "bad_signature" }, { token_auth.verify_token(huge, "example.com", token, c) })
		assert.same({ nil, "bad_signature" }, { token_auth.verify_token("alice", huge, token, c) })
		local verifier = assert(token_auth.new_verifier(config()))
		assert.same({ nil, "malformed" }, { verifier:verify("alice", "example.com", huge, T) })
		local report = token_auth.explain("alice", "example.com", huge, c)
		assert.same({ false, "malformed", "too_long" }, { report.ok, report.reason, report.detail })
	end)

	it("refuses every bad time with an error naming the time", function()
		local verifier = assert(token_auth.new_verifier(config()))
		local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
		for _, time in ipairs({ -1, -0.5, 0 / 0, math.huge, -math.huge, 2 ^ 53 + 2, 2 ^ 64, 1e308, "1700000010", {} }) do
			local label = tostring(time)
			local ok, err = pcall(verifier.verify, verifier, "alice", "example.com", token, time)
			assert(not ok, label)
			assert.matches("time", tostring(err), 1, true)
			ok, err = pcall(token_auth.verify_token, "alice", "example.com", token, config { time = time })
			assert(not ok, label)
			assert.matches("time", tostring(err), 1, true)
			ok, err = pcall(token_auth.totp, SEED, { time = time })
			assert(not ok, label)
			assert.matches("time", tostring(err), 1, true)
		end
		-- The extremes that are times: the epoch and 2^53 seconds.
		assert.same({ nil, "otp_mismatch" }, { verifier:verify("alice", "example.com", token, 0) })
		assert.same({ nil, "otp_mismatch" }, { verifier:verify("alice", "example.com", token, 2 ^ 53) })
		assert.matches("^%d+$", token_auth.totp(SEED, { time = 2 ^ 53 }))
	end)

	describe("configuration", function()
		-- Every option with each kind of bad value: new_verifier returns
		-- nil, a problem code, the option and a text, the one-shot
		-- functions raise an error naming it; neither shows the seed or the
		-- secret.
		local bad = {
			{ "otp_seed", "" }, { "otp_seed", 42 }, { "otp_seed", {} }, { "otp_seed", "JBSWY3DP" },
			{ "otp_seed", "JBSWY3DP!EHPK3PXPJBSWY3DPEHPK3PXP" }, { "otp_seed", SEED .. "\0" },
			{ "otp_seed", "\255" .. SEED }, { "otp_seed", SEED .. "1" },
			{ "token_secret", "" }, { "token_secret", true }, { "token_secret", "xyzzy-short" },
			{ "token_secret", {} }, { "token_secret", { SECRET, 42 } }, { "token_secret", { SECRET, "short" } },
			{ "token_secret", { SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET } },
			{ "token_secret", hostile_table() },
			{ "digits", 0 }, { "digits", 20 }, { "digits", 5 }, { "digits", 8.5 }, { "digits", "8" }, { "digits", 0 / 0 },
			{ "period", 0 }, { "period", -30 }, { "period", 3601 }, { "period", math.huge }, { "period", false },
			{ "algorithm", "" }, { "algorithm", "MD5" }, { "algorithm", "SHA1\0" }, { "algorithm", 1 },
			{ "window", 100 }, { "window", -1 }, { "window", 0.5 }, { "window", "1" },
			{ "nonce_length", 0 }, { "nonce_length", 7 }, { "nonce_length", 129 }, { "nonce_length", 2 ^ 64 },
			{ "replay_capacity", 0 }, { "replay_capacity", -1 }, { "replay_capacity", 1e300 },
			{ "replay_capacity", "many" },
		}

		local function assert_names(option, message, label)
			assert(type(message) == "string", label)
			assert(message:find(option, 1, true), label .. ": does not name " .. option .. ": " .. message)
			assert(not message:find(SEED, 1, true), label .. ": shows the seed")
			assert(not message:find(SECRET, 1, true), label .. ": shows the secret")
			assert(not message:find("panick", 1, true), label)
		end

		it("is refused by new_verifier with nil, a code and the option", function()
			for _, case in ipairs(bad) do
				local option, value = case[1], case[2]
				local label = ("%s = %s"):format(option, type(value) == "table" and "a table" or tostring(value))
				local verifier, code, name, text = token_auth.new_verifier(config { [option] = value })
				assert(verifier == nil, label)
				assert(token_auth.config_problems[code], label .. ": no problem code")
				assert(name == option, label .. ": names " .. tostring(name))
				local message = name .. ": " .. text
				assert_names(option, message, label)
				if type(value) == "string" and #value > 4 then
					assert(not message:find(value, 1, true), label .. ": shows the value")
				end
			end
		end)

		it("makes the one-shot functions raise an error naming the option", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
			for _, case in ipairs(bad) do
				local option, value = case[1], case[2]
				local label = ("%s = %s"):format(option, type(value) == "table" and "a table" or tostring(value))
				if option ~= "replay_capacity" then
					local c = config { time = T, [option] = value }
					local ok, err = pcall(token_auth.verify_token, "alice", "example.com", token, c)
					assert(not ok, label)
					assert_names(option, tostring(err), label)
					ok, err = pcall(token_auth.explain, "alice", "example.com", token, c)
					assert(not ok, label)
					assert_names(option, tostring(err), label)
					c.nonce = NONCE
					ok, err = pcall(token_auth.generate_token, "alice", "example.com", c)
					assert(not ok, label)
					assert_names(option, tostring(err), label)
				end
				if option ~= "token_secret" and option ~= "replay_capacity" and option ~= "window"
					and option ~= "nonce_length" then
					local seed = option == "otp_seed" and value or SEED
					local opts = option == "otp_seed" and { time = T } or { time = T, [option] = value }
					local ok, err = pcall(token_auth.totp, seed, opts)
					assert(not ok, label)
					if option ~= "otp_seed" or type(value) == "string" then
						assert_names(option, tostring(err), label)
					end
				end
			end
		end)

		it("refuses a bad nonce for generate_token, naming the nonce", function()
			for _, nonce in ipairs({ "", "123", NONCE .. "0", NONCE:sub(2) .. "x", NONCE:sub(2) .. "\0", 42, {} }) do
				local ok, err = pcall(token_auth.generate_token, "alice", "example.com", config { nonce = nonce })
				assert(not ok, tostring(nonce))
				assert.matches("nonce", tostring(err), 1, true)
			end
		end)
	end)

	it("never writes to stderr, under any of it, in a child interpreter", function()
		local interpreter, lowest = nil, 0
		for index, value in pairs(arg) do
			if type(index) == "number" and index < lowest then interpreter, lowest = value, index end
		end
		assert.is_string(interpreter)
		local errors = os.tmpname()
		local script = debug.getinfo(1, "S").source:match("^@(.*)$")
		local command = ("%s -e 'package.cpath = [==[%s]==]' '%s' 2>'%s'"):format(interpreter, package.cpath, script, errors)
		local child = assert(io.popen(command, "r"))
		local output = child:read("*a")
		local closed, how, status = child:close()
		local file = assert(io.open(errors, "rb"))
		local stderr = file:read("*a")
		file:close()
		os.remove(errors)
		assert.equal("", stderr)
		assert.matches("^calls: %d+\n$", output)
		assert.is_true(tonumber(output:match("%d+")) > 1000)
		-- Lua 5.1's close returns only true; 5.2+ add how and status.
		assert.is_true(closed == true)
		if how then assert.same({ "exit", 0 }, { how, status }) end
	end)
end)
