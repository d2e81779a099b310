-- mod_auth_token: an auth provider that accepts the tokens of the community
-- mod_auth_token (OTP .. NONCE .. " " .. base64(HMAC-SHA256)), checked by the
-- native module token_auth. Drop-in: authentication = "token", token_secret,
-- otp_seed. Every option is read and validated here, at load: a bad one stops
-- the module from loading with a message that names it (never its value).
--
-- Options: the token options are the native module's own list
-- (token_auth.options: names, defaults, ranges; doc/configuration.md),
-- read below without a list of our own; besides them this plugin reads
-- token_allow_plain (offer PLAIN too, default true), token_allow_fast (let
-- mod_sasl2_fast give FAST tokens to token logins, default false),
-- token_fast_max_lifetime (how long FAST may carry one token login) and
-- token_users ("known": a user exists once they logged in with a token or an
-- admin created them; "any": every name exists).
-- Account state (known, disabled, revoked; the host's revocation and the
-- fingerprints of its secrets) lives in Prosody's storage, so that servers
-- sharing a database share it: nothing is cached between logins.

-- The native module, found by token_auth/native.lua, the locator the
-- token-auth command uses too: package.cpath, else the LuaRocks tree this
-- file was installed into (`prosodyctl install` on Prosody 13 leaves its
-- lib/ off package.cpath), else beside this file. The locator is on Lua's
-- path where the rock or the .deb installs it, or beside this file (a rock's
-- --tree, a checkout's lua/); a copy of the plugin files alone has no
-- locator and loads token_auth from package.cpath.
local function load_native()
	local found, locator = pcall(require, "token_auth.native");
	if not found then
		local dir = type(module.path) == "string" and module.path:match("^(.*)/[^/]*$");
		local chunk = dir and loadfile(dir .. "/token_auth/native.lua");
		locator = chunk and chunk();
	end
	if not locator then
		local ok, native = pcall(require, "token_auth");
		if ok then return native; end
		return nil, native;
	end
	local native, err_or_path = locator.load(module.path);
	if native and err_or_path then
		module:log("debug", "Loaded the native module token_auth from %s", err_or_path);
	end
	return native, err_or_path;
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
-- The one clock: the time every token is checked at (the specs replace it).
local now = require "util.time".now;
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
local allow_fast = module:get_option("token_allow_fast", false);
if type(allow_fast) ~= "boolean" then
	config_error("token_allow_fast", "must be true or false");
end
-- "known" (default): only names that logged in with a token or that an admin
-- created exist, as with Prosody's own auth (mail to anyone else bounces);
-- "any": every name exists (the behaviour before 2026-12).
local token_users = module:get_option("token_users", "known");
if token_users ~= "known" and token_users ~= "any" then
	config_error("token_users", "must be \"known\" or \"any\"");
end
local any_user = token_users == "any";
-- No FAST credential outlives the token login it came from by more than
-- this, rotations included. Seconds (Prosody 13 also takes "7d" and the like).
local DEFAULT_FAST_MAX_LIFETIME = 7 * 86400;
local fast_max_lifetime = module:get_option("token_fast_max_lifetime", DEFAULT_FAST_MAX_LIFETIME);
if type(fast_max_lifetime) == "string" and module.get_option_period then
	local ok, period = pcall(module.get_option_period, module, "token_fast_max_lifetime");
	fast_max_lifetime = ok and period or nil;
end
if type(fast_max_lifetime) ~= "number" or fast_max_lifetime ~= fast_max_lifetime or fast_max_lifetime < 1
	or fast_max_lifetime > 366 * 86400 then
	config_error("token_fast_max_lifetime", "must be a number of seconds from 1 to 31622400 (366 days)");
end

-- Is any of `names` (the core's option names) set for this host?
local function any_set(names)
	for _, name in ipairs(names or {}) do
		if module:get_option(prosody_name[name]) ~= nil then
			return true;
		end
	end
	return false;
end

-- JWTs are taken when any of the core's JWT key options is set.
local takes_jwt = any_set(token_auth.jwt_key_options);
local jwt_keys_url = module:get_option_string("token_jwt_keys_url");

-- One verifier, and so one replay cache, per host.
local function make_verifier()
	local config = {};
	for _, spec in ipairs(option_specs) do
		local value = module:get_option(spec.prosody);
		-- otp_seed and token_secret, unless JWT keys are set (required_unless).
		if value == nil and spec.required and not any_set(spec.required_unless) then
			config_error(spec.prosody, "is not set (" .. spec.description .. ")");
		end
		config[spec.name] = value;
	end
	local made, verifier, _, option, text = pcall(token_auth.new_verifier, config);
	if made and verifier then
		return verifier, config;
	end
	if made and prosody_name[option] then
		config_error(prosody_name[option], text);
	end
	error(("mod_auth_token: bad configuration for %s: %s"):format(host,
		made and (tostring(option) .. ": " .. tostring(text)) or tostring(verifier)), 0);
end
local verifier, verifier_config = make_verifier();

-- The JWKS of token_jwt_keys_url, fetched and kept fresh (token_jwt_keys, a
-- file, is read with the rest of the options: at load and on reload).
local jwks = jwt_keys_url and module:require("jwks").new(module, verifier, jwt_keys_url,
	module:get_option_number("token_jwt_keys_refresh", 3600));

-- Prosody refuses PLAIN on unencrypted connections unless
-- allow_unencrypted_plain_auth is set (mod_saslauth's insecure_sasl_mechanisms).
-- X-TOKEN carries the same kind of bearer secret, so it follows the same rule.
local allow_unencrypted_plain_auth = module:get_option_boolean("allow_unencrypted_plain_auth", false);
local insecure_mechanisms = module:get_option_set("insecure_sasl_mechanisms",
	allow_unencrypted_plain_auth and {} or { "PLAIN", "LOGIN" });
local x_token_needs_encryption = insecure_mechanisms:contains("X-TOKEN") or insecure_mechanisms:contains("PLAIN");
-- mod_sasl2 hides insecure mechanisms but does not refuse one a client sends
-- anyway: what must not run unencrypted stays out of the profile.
local plain_needs_encryption = insecure_mechanisms:contains("PLAIN");

-- Account state, in whatever storage the host is configured with (servers
-- that share a database share it; nothing is cached between logins):
--   token_auth_accounts, by nodeprepped username: { known = true?, created,
--     disabled = true?, updated (last disable or enable), meta, revoked
--     (tokens of this step and before are refused), fast = { [sha256 of a
--     client id] = time of the token login its FAST credential came from } }
--   token_auth_host, one record: { revoked, secrets = { [fingerprint] = true } }
local accounts = module:open_store("token_auth_accounts");
local host_store = module:open_store("token_auth_host");
local nodeprep = require "util.encodings".stringprep.nodeprep;
local hashes = require "util.hashes";
local floor, max = math.floor, math.max;

-- The core's reasons, and the ones only accounts give.
local reason_texts = setmetatable({
	revoked = "the token was minted before its tokens were revoked";
	fast_expired = "the FAST credential's token login is older than token_fast_max_lifetime, or unknown";
}, { __index = token_auth.reasons });

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
	-- A shared store that is down refuses every login: say so once per
	-- outage (below), not once per login.
	module:log(reason == "replay_store_unavailable" and "debug" or "info", "Token refused for %s@%s via %s: %s%s",
		printable(username), host, via, reason, text and " (" .. text .. ")" or "");
	count(reason);
end

-- The shared replay store's outages, logged when they begin and end.
local store_outages_logged, store_down = 0, false;
local function store_failed()
	local stats = verifier:stats();
	if stats.replay_store_outages ~= store_outages_logged then
		store_outages_logged = stats.replay_store_outages;
		store_down = true;
		module:log("error", "Replay store unavailable (%s): token logins on %s are refused "
			.. "(temporary-auth-failure) until it answers again", tostring(stats.replay_store_error), host);
	end
end
local function store_answered()
	store_down = false;
	module:log("info", "Replay store answers again: token logins on %s work again", host);
end

-- The name as Prosody keys accounts (Alice -> alice), or nil.
local function prep(username)
	local name = type(username) == "string" and nodeprep(username);
	if not name or name == "" then
		return nil;
	end
	return name;
end

-- A stored record (an empty one for a name never seen), or nil and an error.
local function load_account(name)
	local record, err = accounts:get(name);
	if record == nil and err then
		return nil, err;
	end
	return record or {};
end

local function load_host()
	local record, err = host_store:get(nil);
	if record == nil and err then
		return nil, err;
	end
	return record or {};
end

-- Known: logged in with a token or created by an admin (a name disabled
-- while token_users was "any" counts too, so that it can be enabled).
local function is_known(record)
	return record.known == true or record.disabled == true;
end

local function latest(a, b)
	if a and b then
		return max(a, b);
	end
	return a or b;
end

-- The OTP parameters, for telling which step a token was minted in.
local function core_default(name)
	for _, spec in ipairs(option_specs) do
		if spec.name == name then
			return spec.default;
		end
	end
end
local otp_params = {
	digits = verifier_config.digits or core_default("digits");
	period = verifier_config.period or core_default("period");
	algorithm = verifier_config.algorithm or core_default("algorithm");
};
local otp_window = verifier_config.window or core_default("window");

-- Was the token (one that verified just now) minted in the step of
-- `revoked` or before? Only the steps within the window can hold it; when
-- the revocation is older than all of them, no code is computed.
local function minted_by(token, revoked)
	if not revoked then
		return false;
	end
	local period = otp_params.period;
	local revoked_step, current = floor(revoked / period), floor(now() / period);
	if revoked_step < current - otp_window then
		return false;
	end
	local code = token:sub(1, otp_params.digits);
	for step = current - otp_window, math.min(revoked_step, current + otp_window) do
		local params = {
			digits = otp_params.digits, period = period, algorithm = otp_params.algorithm, time = step * period,
		};
		if token_auth.totp(verifier_config.otp_seed, params) == code then
			return true;
		end
	end
	return false;
end

-- After a token verified: does its account take it? true, or nil and a
-- reason. A first token login makes the name known.
local function account_allows(username, token)
	local name = prep(username);
	local record, err = load_account(name or "");
	local host_record, host_err = load_host();
	if not name or not record or not host_record then
		module:log("error", "Cannot read the account state of %s@%s: %s", printable(username), host,
			tostring(name and (err or host_err) or "not a valid username"));
		return nil, "internal_error";
	end
	if record.disabled then
		return nil, "account_disabled";
	end
	if minted_by(token, latest(record.revoked, host_record.revoked)) then
		return nil, "revoked";
	end
	if not any_user and not is_known(record) then
		record.known, record.created = true, now();
		local saved, save_err = accounts:set(name, record);
		if not saved then
			module:log("error", "Cannot record the new user %s@%s: %s", printable(name), host, tostring(save_err));
			return nil, "internal_error";
		end
		module:log("info", "New user %s@%s (first token login)", printable(name), host);
	end
	return true;
end

-- The account an admin or a module names: its prepared name and record, or
-- nil, why and whether storage failed ("user not found": nobody has it).
local function existing_account(username)
	local name = prep(username);
	if not name then
		return nil, "invalid username";
	end
	local record, err = load_account(name);
	if not record then
		module:log("error", "Cannot read the account state of %s@%s: %s", printable(name), host, tostring(err));
		return nil, err, true;
	end
	if not any_user and not is_known(record) then
		return nil, "user not found";
	end
	return name, record;
end

-- Closes the live sessions of one user (or, with no name, of everyone on
-- the host); returns how many. Prosody 13's mod_c2s closes a disabled user's
-- sessions too, but by the name as the admin typed it (Alice): not enough.
local function close_sessions(name, text)
	local prosody_ = rawget(_G, "prosody");
	local host_session = prosody_ and prosody_.hosts and prosody_.hosts[host];
	if not host_session then
		return 0;
	end
	local list = {};
	for username, user in pairs(host_session.sessions or {}) do
		if name == nil or username == name then
			for _, session in pairs(user.sessions or {}) do
				list[#list + 1] = session;
			end
		end
	end
	for _, session in ipairs(list) do
		session:close({ condition = "not-authorized", text = text });
	end
	return #list;
end

-- verify(username, token): the verifier's check; with the shared replay
-- store the login's session waits for Redis, not the server (store_wait.lib.lua).
local verify = module:require "store_wait".verify_function(verifier);

-- A disabled account's tokens (and revoked ones) are refused only once they
-- verify: nobody without a valid token learns the state of the account.
local function check_token(username, token, via)
	if type(username) ~= "string" or type(token) ~= "string" then
		refused(username, via, "malformed");
		return nil, "malformed";
	end
	local ok, reason, raised = verify(username, token);
	if reason == "jwt_unknown_kid" and jwks and jwks.on_unknown_kid() then
		ok, reason, raised = verify(username, token); -- the issuer may have rotated its keys
	end
	if raised then
		module:log("error", "Token check for %s@%s raised an error: %s", printable(username), host, tostring(raised));
	end
	if ok then
		ok, reason = account_allows(username, token);
	end
	if ok then
		module:log("debug", "Token accepted for %s@%s via %s", printable(username), host, via);
		count("success");
		if store_down then
			store_answered();
		end
		return true;
	end
	if reason == "replay_store_unavailable" then
		store_failed();
	elseif store_down and reason == "replayed" then
		store_answered();
	end
	refused(username, via, reason or "internal_error");
	return nil, reason or "internal_error";
end

local provider = {};

function provider.test_password(username, password)
	return check_token(username, password, "test_password");
end

-- With token_users = "known", a user exists once they logged in with a
-- token or an admin created them; with "any", every name exists.
function provider.user_exists(username)
	if any_user then
		return true;
	end
	local name = prep(username);
	if not name then
		return false;
	end
	local record, err = load_account(name);
	if not record then
		module:log("error", "Cannot read the account state of %s@%s: %s", printable(name), host, tostring(err));
		return nil, err;
	end
	return is_known(record);
end

-- The known users, sorted (a storage without a list of its users gives none).
function provider.users()
	local names = {};
	if accounts.users then
		-- The whole generic-for triple: 0.12's file storage iterates over a
		-- directory whose state is the second value.
		for name in accounts:users() do
			local record = accounts:get(name);
			if type(record) == "table" and is_known(record) then
				names[#names + 1] = name;
			end
		end
	end
	table.sort(names);
	local i = 0;
	return function()
		i = i + 1;
		return names[i];
	end;
end

-- Tokens are the only credential: a password given to prosodyctl adduser,
-- passwd or Prosody 13's user:create is discarded, never stored.
function provider.set_password(username, password) -- luacheck: ignore 212/password
	local name, err = existing_account(username);
	if not name then
		return nil, err;
	end
	module:log("info", "Password for %s@%s discarded: token authentication has no passwords", printable(name), host);
	return true;
end

-- Registers the name (prosodyctl adduser, user:create): it exists from now
-- on, with no password.
function provider.create_user(username, password) -- luacheck: ignore 212/password
	local name = prep(username);
	if not name then
		return nil, "invalid username";
	end
	local record, err = load_account(name);
	if not record then
		return nil, err;
	end
	if is_known(record) then
		return nil, "user exists";
	end
	record.known, record.created = true, now();
	local ok, save_err = accounts:set(name, record);
	if not ok then
		return nil, save_err;
	end
	module:log("info", "User %s@%s created (tokens are its credential)", printable(name), host);
	return true;
end

-- Forgets the name (and its disabled and revoked state): a token minted
-- for it makes it known again, so to keep someone out, disable them.
function provider.delete_user(username)
	local name, err = existing_account(username);
	if not name then
		return nil, err;
	end
	local ok, save_err = accounts:set(name, nil);
	if not ok then
		return nil, save_err;
	end
	module:log("info", "User %s@%s deleted", printable(name), host);
	return true;
end

-- Prosody 13's account API (core/usermanager.lua). password_updated is the
-- latest of: the last disable or enable, the user's revocation and the
-- host's; mod_sasl2_fast ends every FAST token issued before it.
function provider.get_account_info(username)
	local name, record, storage_failed = existing_account(username);
	local host_record, host_err;
	if name then
		host_record, host_err = load_host();
		if not host_record then
			module:log("error", "Cannot read the token state of %s: %s", host, tostring(host_err));
			storage_failed = true;
		end
	end
	if storage_failed then
		-- mod_sasl2_fast reads "no info" as "never changed" and would accept a
		-- FAST token issued before a disable: fail closed instead.
		return { password_updated = now(); enabled = false };
	end
	if not name then
		return nil, record;
	end
	return {
		created = record.created;
		password_updated = latest(record.updated, latest(record.revoked, host_record.revoked));
		enabled = not record.disabled;
	};
end

function provider.is_enabled(username)
	local name, record = existing_account(username);
	if not name then
		return nil, record;
	end
	return not record.disabled;
end

function provider.disable(username, meta)
	local name, record = existing_account(username);
	if not name then
		return nil, record;
	end
	record.disabled, record.updated, record.meta = true, now(), meta;
	local ok, err = accounts:set(name, record);
	if not ok then
		return nil, err;
	end
	module:log("info", "Account disabled: %s@%s", printable(name), host);
	close_sessions(name, "Account disabled");
	return true;
end

function provider.enable(username)
	local name, record = existing_account(username);
	if not name then
		return nil, record;
	end
	record.disabled, record.updated, record.meta = nil, now(), nil;
	local ok, err = accounts:set(name, record);
	if not ok then
		return nil, err;
	end
	module:log("info", "Account enabled: %s@%s", printable(name), host);
	return true;
end

local function wants_close(close)
	return close == true or close == "close";
end

-- Revokes every token of the user minted until now (this OTP step
-- included) and their FAST credentials; with close = "close" (or true) also
-- closes their sessions here. Returns true and a message, or nil and why.
-- The 0.12 shell: >prosody.hosts["example.com"].users.revoke("alice", "close")
function provider.revoke(username, close)
	local name, record = existing_account(username);
	if not name then
		return nil, record;
	end
	record.revoked = now();
	local ok, err = accounts:set(name, record);
	if not ok then
		return nil, err;
	end
	local closed = wants_close(close) and close_sessions(name, "Tokens revoked") or 0;
	module:log("info", "Tokens of %s@%s revoked (%d sessions closed)", printable(name), host, closed);
	return true, ("Tokens of %s@%s minted until now are revoked; %d sessions closed"):format(name, host, closed);
end

-- The same for every user of the host.
-- The 0.12 shell: >prosody.hosts["example.com"].users.revoke_host("close")
function provider.revoke_host(close)
	local record, err = load_host();
	if record then
		record.revoked = now();
		record, err = host_store:set(nil, record);
	end
	if not record then
		return nil, err;
	end
	local closed = wants_close(close) and close_sessions(nil, "Tokens revoked") or 0;
	module:log("warn", "Every token of %s minted until now is revoked (%d sessions closed)", host, closed);
	return true, ("Every token of %s minted until now is revoked; %d sessions closed"):format(host, closed);
end

-- token_auth reason -> SASL condition (RFC 6120 section 6.5); the others are
-- not-authorized. account_disabled is the profile's state false.
local sasl_conditions = {
	malformed = "malformed-request";
	nonce_length = "malformed-request";
	bad_encoding = "malformed-request";
	replay_cache_full = "temporary-auth-failure";
	replay_user_full = "temporary-auth-failure";
	replay_store_unavailable = "temporary-auth-failure";
	internal_error = "temporary-auth-failure";
	revoked = "credentials-expired";
	jwt_too_large = "malformed-request";
	jwt_malformed = "malformed-request";
	jwt_bad_encoding = "malformed-request";
	jwt_bad_header = "malformed-request";
};

-- X-TOKEN (mod_sasl_token): ok, state, condition.
local function sasl_token(sasl, username, token, realm) -- luacheck: ignore 212/sasl 212/realm
	local ok, reason = check_token(username, token, "X-TOKEN");
	if ok then
		return true, true;
	end
	return false, reason ~= "account_disabled", sasl_conditions[reason];
end

-- PLAIN: Prosody's own mechanism, the token as password: ok, state.
local function sasl_plain_test(sasl, username, password, realm) -- luacheck: ignore 212/sasl 212/realm
	local ok, reason = check_token(username, password, "PLAIN");
	return ok == true, reason ~= "account_disabled";
end

-- OAUTHBEARER (RFC 7628), where util.sasl has it (Prosody 13): a JWT that
-- names its user. The name is read from the token; then the token takes the
-- same path as over PLAIN (replay, account state, logs, metrics).
-- username, state: util.sasl's oauthbearer profile.
local function sasl_oauthbearer(sasl, token, realm, authzid) -- luacheck: ignore 212/sasl 212/realm
	local ran, username, reason = pcall(verifier.bearer_username, verifier, host, token, now());
	if ran and reason == "jwt_unknown_kid" and jwks and jwks.on_unknown_kid() then
		ran, username, reason = pcall(verifier.bearer_username, verifier, host, token, now());
	end
	if not ran then
		module:log("error", "Token check for OAUTHBEARER on %s raised an error: %s", host, tostring(username));
		username, reason = nil, "internal_error";
	end
	if username and authzid and authzid ~= "" and authzid ~= username .. "@" .. host then
		username, reason = nil, "invalid_authzid";
	end
	if not username then
		refused(nil, "OAUTHBEARER", reason);
		return nil, nil;
	end
	local ok, why = check_token(username, token, "OAUTHBEARER");
	if ok then
		return username, true;
	elseif why == "account_disabled" then
		return username, false;
	end
	return nil, nil;
end

function provider.get_sasl_handler(session)
	-- A new profile each time: util.sasl caches the mechanism list in it.
	local profile = {};
	local secure = session and session.secure;
	if not x_token_needs_encryption or secure then
		profile.token = sasl_token;
	end
	if allow_plain and (not plain_needs_encryption or secure) then
		profile.plain_test = sasl_plain_test;
	end
	if takes_jwt and (not x_token_needs_encryption or secure) then
		profile.oauthbearer = sasl_oauthbearer;
	end
	return new_sasl(host, profile);
end

module:provides("auth", provider);

-- A secret that left token_secret since the last start may have leaked: the
-- host's tokens and FAST credentials issued until now are revoked. What is
-- remembered is a fingerprint of each secret (SHA-256 over the host and the
-- secret), never a secret.
local function fingerprint(secret)
	return hashes.sha256("prosody-token-auth secret\0" .. host .. "\0" .. secret, true);
end
local function notice_removed_secrets()
	local secrets = verifier_config.token_secret;
	if type(secrets) ~= "table" then
		secrets = { secrets };
	end
	local current, changed = {}, false;
	for _, secret in ipairs(secrets) do
		current[fingerprint(secret)] = true;
	end
	local record, err = load_host();
	if not record then
		module:log("error", "Cannot read the token state of %s (%s): a secret removed from token_secret "
			.. "is not noticed until it can", host, tostring(err));
		return;
	end
	local removed = 0;
	for fp in pairs(record.secrets or {}) do
		if not current[fp] then
			removed = removed + 1;
		end
	end
	for fp in pairs(current) do
		changed = changed or not (record.secrets or {})[fp];
	end
	if removed > 0 then
		record.revoked = now();
		module:log("warn", "%d secret(s) left token_secret on %s: every token and FAST credential issued until now "
			.. "is revoked", removed, host);
	end
	if removed > 0 or changed then
		record.secrets = current;
		local ok, set_err = host_store:set(nil, record);
		if not ok then
			module:log("error", "Cannot save the token state of %s: %s", host, tostring(set_err));
		end
	end
end
notice_removed_secrets();

-- Prosody 13's shell (mod_admin_shell), a section of our own:
--   prosodyctl shell "token:revoke('alice@example.com', 'close')"
--   prosodyctl shell "token:revoke_host('example.com')"
-- Prosody 0.12's shell has no shell-command items: see below.
module:add_item("shell-command", {
	section = "token";
	section_desc = "Revoke tokens (prosody-token-auth)";
	name = "revoke";
	desc = "Refuse every token of a user minted until now and end their FAST credentials ('close': close their sessions)";
	args = { { name = "jid", type = "string" }; { name = "close", type = "string" } };
	host_selector = "jid";
	handler = function(self, jid, close) -- luacheck: ignore 212/self
		local username = type(jid) == "string" and jid:match("^([^@/]+)@") or nil;
		if not username then
			return nil, "Give a user's JID, e.g. token:revoke('alice@" .. host .. "')";
		end
		return provider.revoke(username, close);
	end;
});
module:add_item("shell-command", {
	section = "token";
	section_desc = "Revoke tokens (prosody-token-auth)";
	name = "revoke_host";
	desc = "Refuse every token of a host minted until now and end all its FAST credentials ('close': close all sessions)";
	args = { { name = "host", type = "string" }; { name = "close", type = "string" } };
	host_selector = "host";
	handler = function(self, host_name, close) -- luacheck: ignore 212/self 212/host_name
		return provider.revoke_host(close);
	end;
});

-- Prosody 0.12's shell (mod_admin_shell, a global module) reads its commands
-- from a shared table: the same two commands go there, each host's provider
-- found by the JID's host (0.12's usermanager has no disable_user).
local usermanager = package.loaded["core.usermanager"] or package.loaded["prosody.core.usermanager"];
if usermanager and not usermanager.disable_user then
	local providers = module:shared("/*/auth_token/providers");
	providers[host] = provider;
	local unload = module.unload;
	function module.unload() -- luacheck: ignore 122 (Prosody calls module.unload)
		unload();
		if providers[host] == provider then
			providers[host] = nil;
		end
	end
	local shell_env = module:shared("/*/admin_shell/env");
	local commands = shell_env.token or {};
	shell_env.token = commands;
	local split_jid = require "util.jid".split;
	local function provider_of(address)
		local node, host_name = split_jid(type(address) == "string" and address or "");
		local target = host_name and providers[host_name];
		if not target then
			return nil, "No host with token authentication in " .. tostring(address);
		end
		return target, node;
	end
	function commands:revoke(jid, close) -- luacheck: ignore 212/self
		local target, node = provider_of(jid);
		if not target or not node then
			return nil, target and "Give a user's JID, e.g. token:revoke('alice@example.com')" or node;
		end
		return target.revoke(node, close);
	end
	function commands:revoke_host(host_name, close) -- luacheck: ignore 212/self
		local target, err = provider_of(host_name);
		if not target then
			return nil, err;
		end
		return target.revoke_host(close);
	end
end

-- What mod_sasl_token refused before the token reached us, it left on the
-- handler: log and count it with the rest. (mod_saslauth and mod_sasl2 fire
-- this before they replace the handler.)
module:hook("authentication-failure", function(event)
	local handler = event.session and event.session.sasl_handler;
	local reason = handler and handler.token_failure;
	if reason then
		refused(handler.username, handler.selected or "X-TOKEN", reason);
	end
end);

-- FAST (mod_sasl2_fast) would turn a one-time token into a reusable 21-day
-- credential that never reaches us. Unless token_allow_fast is set, FAST is
-- not offered (and so refused: "FAST is not available on this stream") and
-- token requests are dropped before mod_sasl2_fast (75) answers them.
local xmlns_fast = "urn:xmpp:fast:0";
if allow_fast then
	module:hook("authentication-success", function(event)
		local handler = event.session and event.session.sasl_handler;
		if handler and handler.fast then
			module:log("info", "FAST token login for %s@%s", printable(handler.username), host);
			count("fast");
		end
	end);

	-- mod_sasl2_fast keys FAST tokens by the SHA-256 of the client's id.
	local function client_key(client_id)
		return hashes.sha256(client_id, true);
	end

	-- A token login that asks for a FAST token starts that client's chain:
	-- its time is remembered; FAST logins and their rotations never move it.
	module:hook("sasl2/c2s/success", function(event)
		local session = event.session;
		local handler = session.sasl_handler;
		local name = prep(session.username);
		if not session.fast_token_request or (handler and handler.fast) or type(session.client_id) ~= "string"
			or not name then
			return;
		end
		local record, err = load_account(name);
		if record then
			local fast, t = {}, now();
			for key, origin in pairs(record.fast or {}) do
				if t - origin <= fast_max_lifetime then
					fast[key] = origin; -- the others can no longer log in
				end
			end
			fast[client_key(session.client_id)] = t;
			record.fast = fast;
			record, err = accounts:set(name, record);
		end
		if not record then
			module:log("error", "Cannot record the FAST origin of %s@%s: %s", printable(name), host, tostring(err));
		end
	end, 100);

	-- mod_sasl2_fast checks only expiry (renewed with every rotation) and
	-- password_updated: its token check is wrapped so that no FAST login
	-- happens later than token_fast_max_lifetime after the token login the
	-- credential came from.
	local function fast_allowed(username, client_id)
		local name = prep(username);
		if not name or type(client_id) ~= "string" then
			return nil, "fast_expired";
		end
		local record, err = load_account(name);
		if not record then
			module:log("error", "Cannot read the account state of %s@%s: %s", printable(name), host, tostring(err));
			return nil, "internal_error";
		end
		local origin = record.fast and record.fast[client_key(client_id)];
		if not origin or now() - origin > fast_max_lifetime then
			return nil, "fast_expired";
		end
		return true;
	end

	module:hook("advertise-sasl-features", function(event)
		local handler = event.origin and event.origin.fast_sasl_handler;
		local profile = type(handler) == "table" and handler.profile;
		local check = type(profile) == "table" and profile.ht_sha_256;
		if type(check) ~= "function" or profile.token_lifetime_capped then
			return;
		end
		profile.token_lifetime_capped = true;
		profile.ht_sha_256 = function(mechanism, username, client_id, ...)
			local allowed, reason = fast_allowed(username, client_id);
			if not allowed then
				refused(username, mechanism, reason);
				return nil, reason == "internal_error" and "temporary-auth-failure" or "credentials-expired";
			end
			return check(mechanism, username, client_id, ...);
		end;
	end, -10);
else
	module:hook("advertise-sasl-features", function(event)
		event.origin.fast_sasl_handler = nil;
		event.features:maptags(function(tag)
			if tag.name == "fast" and tag.attr.xmlns == xmlns_fast then
				return nil;
			end
			return tag;
		end);
	end, -10);
	module:hook("sasl2/c2s/success", function(event)
		if event.session.fast_token_request then
			module:log("debug", "Dropped a FAST token request (token_allow_fast is false)");
			event.session.fast_token_request = nil;
		end
	end, 100);
end
