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
local prosody_name, option_default = {}, {};
for _, spec in ipairs(option_specs) do
	prosody_name[spec.name] = spec.prosody;
	option_default[spec.name] = spec.default;
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
	verifier_config.jwt_keys_refresh or option_default.jwt_keys_refresh);

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

-- The shared replay store's outages, logged when they begin and end, in
-- the core's words (the extauth helper logs the same lines). Asked only
-- when a login met the store down, or while it is known to be down (any
-- answer may be the first since it came back).
local store_down = false;
local function log_store_events()
	for _, event in ipairs(verifier:store_events(host)) do
		module:log(event.level, "%s", event.text);
		store_down = event.event == "began";
	end
end

-- verify(username, token): the verifier's check; with the shared replay
-- store the login's session waits for Redis, not the server (store_wait.lib.lua).
local verify = module:require "store_wait".verify_function(verifier);

local provider = {};

-- Known users, disabling, revocation and where FAST credentials came from
-- (accounts.lib.lua): the provider's account functions, and the account's
-- say on a token that verified.
local accounts = module:require "accounts".init(provider, {
	token_auth = token_auth;
	verifier_config = verifier_config;
	now = now;
	printable = printable;
	any_user = any_user;
	fast_max_lifetime = fast_max_lifetime;
});

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
		ok, reason = accounts.allows(username, token);
	end
	if ok then
		module:log("debug", "Token accepted for %s@%s via %s", printable(username), host, via);
		count("success");
		if store_down then
			log_store_events();
		end
		return true;
	end
	if reason == "replay_store_unavailable" or store_down then
		log_store_events();
	end
	refused(username, via, reason or "internal_error");
	return nil, reason or "internal_error";
end

function provider.test_password(username, password)
	return check_token(username, password, "test_password");
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

	-- A token login that asks for a FAST token starts that client's chain
	-- (accounts.lib.lua remembers its time); FAST logins and their rotations
	-- never move it.
	module:hook("sasl2/c2s/success", function(event)
		local session = event.session;
		local handler = session.sasl_handler;
		if session.fast_token_request and not (handler and handler.fast) and type(session.client_id) == "string" then
			accounts.record_fast_origin(session.username, session.client_id);
		end
	end, 100);

	-- mod_sasl2_fast checks only expiry (renewed with every rotation) and
	-- password_updated: its token check is wrapped so that no FAST login
	-- happens later than token_fast_max_lifetime after the token login the
	-- credential came from.
	module:hook("advertise-sasl-features", function(event)
		local handler = event.origin and event.origin.fast_sasl_handler;
		local profile = type(handler) == "table" and handler.profile;
		local check = type(profile) == "table" and profile.ht_sha_256;
		if type(check) ~= "function" or profile.token_lifetime_capped then
			return;
		end
		profile.token_lifetime_capped = true;
		profile.ht_sha_256 = function(mechanism, username, client_id, ...)
			local allowed, reason = accounts.fast_allowed(username, client_id);
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
