-- mod_auth_token: an auth provider that accepts the tokens of the community
-- mod_auth_token (OTP .. NONCE .. " " .. base64(HMAC-SHA256)), checked by the
-- native module token_auth. Drop-in: authentication = "token", token_secret,
-- otp_seed. Every option is read and validated here, at load: a bad one stops
-- the module from loading with a message that names it (never its value).
--
-- Options (see README):
--   otp_seed               base32 TOTP seed (required)
--   token_secret           HMAC key, or a list of keys: all accepted (rotation)
--   token_otp_window       steps accepted each way (default 1)
--   token_nonce_length     nonce digits (default 32)
--   token_otp_digits       OTP digits (default 8)
--   token_otp_period       OTP step in seconds (default 30)
--   token_otp_algorithm    "SHA1" (default), "SHA256" or "SHA512"
--   token_replay_capacity  tokens remembered against replay (default 100000)
--   token_allow_plain      also offer PLAIN with the token as password (default true)
-- Users do not exist anywhere: user_exists() is always true, users() is empty.

-- The native module from package.cpath or, failing that, from the LuaRocks
-- tree this file was installed into: `prosodyctl install` (Prosody 13) puts
-- the plugins in <tree>/share/lua/5.4/ and token_auth.so in <tree>/lib/lua/5.4/,
-- which Prosody 13.0.1 leaves off package.cpath. Last, beside this file.
local function load_native()
	local ok, native = pcall(require, "token_auth");
	if ok then
		return native;
	end
	local dir = type(module.path) == "string" and module.path:match("^(.*)/[^/]*$");
	local candidates = {};
	if dir then
		local tree, lua_version = dir:match("^(.*)/share/lua/(%d+%.%d+)$");
		if tree then
			candidates[1] = tree .. "/lib/lua/" .. lua_version .. "/token_auth.so";
		end
		candidates[#candidates + 1] = dir .. "/token_auth.so";
	end
	for _, path in ipairs(candidates) do
		local file = io.open(path, "rb");
		if file then
			file:close();
			local open, err = package.loadlib(path, "luaopen_token_auth");
			if not open then
				return nil, err;
			end
			native = open("token_auth");
			package.loaded.token_auth = native; -- later loads (other hosts) reuse it
			module:log("debug", "Loaded the native module token_auth from %s", path);
			return native;
		end
	end
	return nil, native;
end

local token_auth, native_error = load_native();
if not token_auth then
	local lua_version = _VERSION:match("%d+%.%d+") or "5.4";
	error(("mod_auth_token: cannot load the native module token_auth (%s). "
		.. "Install it for Lua %s with `luarocks --lua-version %s make` in the prosody-token-auth source tree "
		.. "(it installs token_auth.so into /usr/local/lib/lua/%s/), or put the directory holding "
		.. "token_auth.so on Prosody's package.cpath (LUA_CPATH=\"/path/to/?.so;;\"). "
		.. "Current package.cpath: %s"):format(
			tostring(native_error):match("^[^\n]*"), lua_version, lua_version, lua_version, package.cpath), 0);
end

local new_sasl = require "util.sasl".new;
local pcall, type, tostring, ipairs = pcall, type, tostring, ipairs;

local host = module.host;

-- The options, their Prosody names and defaults: the core's list
-- (token_auth.options), so that every option it knows is read here.
local option_specs = token_auth.options;
local prosody_name = {};
for _, spec in ipairs(option_specs) do
	prosody_name[spec.name] = spec.prosody;
end

local function config_error(option, problem)
	error(("mod_auth_token: bad configuration for %s: option %s %s"):format(host, option, problem), 0);
end

local allow_plain = module:get_option("token_allow_plain", true);
if type(allow_plain) ~= "boolean" then
	config_error("token_allow_plain", "must be true or false");
end

-- One verifier, and so one replay cache, per host.
local function make_verifier()
	local config = {};
	for _, spec in ipairs(option_specs) do
		local value = module:get_option(spec.prosody);
		if value == nil and spec.required then
			config_error(spec.prosody, "is not set (" .. spec.description .. ")");
		end
		config[spec.name] = value;
	end
	local made, verifier, err, option = pcall(token_auth.new_verifier, config);
	if made and verifier then
		return verifier;
	end
	if made and prosody_name[option] then
		-- token_auth names its own field first ("window: must be ..."): name the option.
		config_error(prosody_name[option], err:sub(#option + 3));
	end
	error(("mod_auth_token: bad configuration for %s: %s"):format(host, tostring(made and err or verifier)), 0);
end
local verifier = make_verifier();

-- Prosody refuses PLAIN on unencrypted connections unless
-- allow_unencrypted_plain_auth is set (mod_saslauth's insecure_sasl_mechanisms).
-- X-TOKEN carries the same kind of bearer secret, so it follows the same rule.
local allow_unencrypted_plain_auth = module:get_option_boolean("allow_unencrypted_plain_auth", false);
local insecure_mechanisms = module:get_option_set("insecure_sasl_mechanisms",
	allow_unencrypted_plain_auth and {} or { "PLAIN", "LOGIN" });
local x_token_needs_encryption = insecure_mechanisms:contains("X-TOKEN") or insecure_mechanisms:contains("PLAIN");

local reason_texts = token_auth.reasons;

-- Counters: one per result ("success" or a reason code).
local count;
if module.metric then
	local results = module:metric("counter", "results", "", "Token authentication attempts by result", { "result" });
	function count(result)
		results:with_labels(result):add(1);
	end
elseif module.measure then
	local rates = {};
	function count(result)
		local rate = rates[result];
		if not rate then
			rate = module:measure("result_" .. result, "rate");
			rates[result] = rate;
		end
		rate();
	end
else
	function count() end
end

-- Usernames come from the client: keep control characters out of the log.
local function printable(username)
	if type(username) ~= "string" then
		return "(unknown)";
	end
	return (username:sub(1, 256):gsub("%c", "?"));
end

local function refused(username, via, reason)
	local text = reason_texts[reason];
	module:log("info", "Token refused for %s@%s via %s: %s%s", printable(username), host, via, reason,
		text and " (" .. text .. ")" or "");
	count(reason);
end

local function check_token(username, token, via)
	if type(username) ~= "string" or type(token) ~= "string" then
		refused(username, via, "malformed");
		return nil, "malformed";
	end
	local ran, ok, reason = pcall(verifier.verify, verifier, username, host, token);
	if not ran then
		module:log("error", "Token check for %s@%s raised an error: %s", printable(username), host, tostring(ok));
		ok, reason = nil, "internal_error";
	end
	if ok then
		module:log("debug", "Token accepted for %s@%s via %s", username, host, via);
		count("success");
		return true;
	end
	refused(username, via, reason or "internal_error");
	return nil, reason or "internal_error";
end

local provider = {};

function provider.test_password(username, password)
	return check_token(username, password, "test_password");
end

-- Tokens are self-contained: every user "exists" (for the token's owner).
function provider.user_exists(username) -- luacheck: ignore 212
	return true;
end

function provider.users()
	return function() return nil; end;
end

function provider.set_password(username, password) -- luacheck: ignore 212
	return nil, "not supported";
end

function provider.create_user(username, password) -- luacheck: ignore 212
	return nil, "not supported";
end

function provider.delete_user(username) -- luacheck: ignore 212
	return nil, "not supported";
end

-- X-TOKEN (mod_sasl_token): ok, state, reason.
local function sasl_token(sasl, username, token, realm) -- luacheck: ignore 212/sasl 212/realm
	local ok, reason = check_token(username, token, "X-TOKEN");
	return ok == true, true, reason;
end

-- Failures mod_sasl_token found before the token reached us.
local function sasl_token_failure(sasl, username, reason) -- luacheck: ignore 212/sasl
	refused(username, "X-TOKEN", reason);
end

-- PLAIN: Prosody's own mechanism, the token as password.
local function sasl_plain_test(sasl, username, password, realm) -- luacheck: ignore 212/sasl 212/realm
	return check_token(username, password, "PLAIN") == true, true;
end

function provider.get_sasl_handler(session)
	-- A new profile each time: util.sasl caches the mechanism list in it.
	local profile = {};
	if not x_token_needs_encryption or (session and session.secure) then
		profile.token = sasl_token;
		profile.token_failure = sasl_token_failure;
	end
	if allow_plain then
		profile.plain_test = sasl_plain_test;
	end
	return new_sasl(host, profile);
end

module:provides("auth", provider);
