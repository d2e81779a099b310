-- mod_auth_token: an auth provider that accepts the tokens of the community
-- mod_auth_token (OTP .. NONCE .. " " .. base64(HMAC-SHA256)), checked by the
-- native module token_auth. Drop-in: authentication = "token", token_secret,
-- otp_seed. Every option is read and validated here, at load: a bad one stops
-- the module from loading with a message that names it (never its value).
--
-- Options: the token options are the native module's own list
-- (token_auth.options: names, defaults, ranges; README "Prosody configuration"),
-- read below without a list of our own; besides them this plugin reads
-- token_allow_plain (offer PLAIN too, default true) and token_allow_fast (let
-- mod_sasl2_fast give FAST tokens to token logins, default false).
-- Users do not exist anywhere: user_exists() is always true, users() is empty.
-- Accounts can be disabled (Prosody 13's account API: get_account_info,
-- is_enabled, enable, disable); the disabled set lives in Prosody's storage.

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

-- Disabled accounts: username -> { disabled = true?, updated = time, meta = ... },
-- in whatever storage the host is configured with.
local accounts = module:open_store("token_auth_accounts");

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

-- Is the account disabled? true, false, or nil and an error (storage failed).
local function is_disabled(username)
	local record, err = accounts:get(username);
	if record == nil and err then
		return nil, err;
	end
	return record ~= nil and record.disabled == true;
end

-- With the shared replay store, a login does not hold Prosody's one thread
-- while Redis answers: the claim is sent, the login's session (its async
-- runner) waits, and the server goes on serving everybody else until the
-- store's socket is readable or the oldest claim is due. Outside a runner
-- (or on a network backend other than epoll, whose watchfd semantics this
-- relies on, or under Lua 5.1) the check waits for the reply, bounded by the
-- same timeout.
local async = require "util.async";
local uses_store = verifier:stats().replay_store == "redis";
local net_server;
local claims = {}; -- ticket -> function(result), result: true or a reason code
local store_watch, store_watch_serial, store_timer, store_timer_at;

-- mod_sasl_token calls the check inside pcall: a login can wait only where
-- a coroutine can yield across it (Lua 5.2 and later, LuaJIT; not 5.1).
local function pcall_can_yield()
	return coroutine.wrap(function()
		return pcall(coroutine.yield, true);
	end)() == true;
end

local function can_defer()
	if not uses_store or not async.ready() then
		return false;
	end
	if net_server == nil then
		local loaded, server = pcall(require, "net.server");
		local epoll = loaded and server.watchfd and server.get_backend and server.get_backend() == "epoll";
		net_server = epoll and pcall_can_yield() and server or false;
	end
	return net_server ~= false;
end

local watch_store;
local function settle_claims()
	for ticket, result in pairs(verifier:collect()) do
		local resume = claims[ticket];
		claims[ticket] = nil;
		if resume then
			-- The login goes on from here, in its session's runner: whatever
			-- it does, the other verdicts are still handed out.
			local resumed, err = pcall(resume, result);
			if not resumed then
				module:log("error", "Resuming a login after the replay store answered: %s", tostring(err));
			end
		end
	end
	watch_store();
end

-- Watch the store's current connection, and wake up when the oldest claim
-- is due. The serial changes with every new connection, even one that got
-- the old one's descriptor number.
function watch_store()
	local fd, due, serial = verifier:store_socket();
	if serial ~= store_watch_serial then
		if store_watch then
			store_watch:close();
		end
		store_watch, store_watch_serial = nil, nil;
		if fd then
			store_watch, store_watch_serial = net_server.watchfd(fd, settle_claims), serial;
		end
	end
	if due and not store_timer then
		store_timer_at = now() + due;
		store_timer = module:add_timer(due + 0.001, function()
			store_timer = nil;
			settle_claims();
		end);
	elseif due and now() + due < store_timer_at then
		-- Due sooner than the timer (verdicts already in): bring it forward.
		store_timer_at = now() + due;
		store_timer:reschedule(due + 0.001);
	elseif not due and store_timer then
		-- Nothing waits: no wake-up for nothing.
		store_timer:stop();
		store_timer = nil;
	end
end

-- Unloaded (or reloaded) with logins waiting: they are refused, not left
-- hanging, since the verifier that would answer them goes.
function module.unload() -- luacheck: ignore 122 (Prosody calls module.unload)
	if store_watch then
		store_watch:close();
	end
	if store_timer then
		store_timer:stop();
	end
	local waiting = claims;
	claims = {};
	for _, resume in pairs(waiting) do
		resume("replay_store_unavailable");
	end
end

-- verifier:verify(), pausing the session instead of the server while the
-- shared store answers. Never raises: a failure is nil, "internal_error".
local function verify(username, token)
	if not can_defer() then
		local ran, ok, reason = pcall(verifier.verify, verifier, username, host, token, now());
		if net_server and next(claims) then
			-- Waiting, it may have read the verdicts of logins that wait in
			-- their sessions: have them collected.
			watch_store();
		end
		if not ran then
			return nil, "internal_error", ok;
		end
		return ok, reason;
	end
	local ran, ok, ticket = pcall(verifier.begin_verify, verifier, username, host, token, now());
	if not ran then
		return nil, "internal_error", ok;
	end
	if ok ~= false then
		if next(claims) then
			watch_store(); -- a failed send fails the claims before it too
		end
		return ok, ticket;
	end
	module:log("debug", "Token for %s@%s waits for the replay store", printable(username), host);
	local wait, done = async.waiter();
	local result;
	claims[ticket] = function(verdict)
		result = verdict;
		done();
	end;
	watch_store();
	wait();
	if result == true then
		return true;
	end
	return nil, result or "internal_error";
end

-- A disabled account's tokens are refused only once they verify: nobody
-- without a valid token learns that the account is disabled.
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
		local disabled, err = is_disabled(username);
		if disabled == nil then
			module:log("error", "Cannot read the account state of %s@%s: %s", printable(username), host, tostring(err));
			ok, reason = nil, "internal_error";
		elseif disabled then
			ok, reason = nil, "account_disabled";
		end
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

-- Prosody 13's account API (core/usermanager.lua). Every user exists, so
-- every user has account info; password_updated is when the account was last
-- disabled or enabled, which mod_sasl2_fast takes as "FAST tokens issued
-- before this are void".
function provider.get_account_info(username)
	local record, err = accounts:get(username);
	if record == nil and err then
		-- mod_sasl2_fast reads "no info" as "never changed" and would accept a
		-- FAST token issued before a disable: fail closed instead.
		module:log("error", "Cannot read the account state of %s@%s: %s", printable(username), host, tostring(err));
		return { password_updated = now(); enabled = false };
	end
	record = record or {};
	return { password_updated = record.updated; enabled = not record.disabled };
end

function provider.is_enabled(username)
	local disabled, err = is_disabled(username);
	if disabled == nil then
		return nil, err;
	end
	return not disabled;
end

-- Prosody 13's usermanager fires user-disabled after disable(), and mod_c2s
-- closes the user's sessions; 0.12's has no disable_user: close them here.
local function close_sessions(username)
	local usermanager = package.loaded["core.usermanager"];
	if not usermanager or usermanager.disable_user then
		return;
	end
	local host_session = prosody.hosts[host];
	local user = host_session and host_session.sessions[username];
	for _, session in pairs(user and user.sessions or {}) do
		session:close({ condition = "not-authorized", text = "Account disabled" });
	end
end

function provider.disable(username, meta)
	local ok, err = accounts:set(username, { disabled = true; updated = now(); meta = meta });
	if not ok then
		return nil, err;
	end
	module:log("info", "Account disabled: %s@%s", printable(username), host);
	close_sessions(username);
	return true;
end

function provider.enable(username)
	local ok, err = accounts:set(username, { updated = now() });
	if not ok then
		return nil, err;
	end
	module:log("info", "Account enabled: %s@%s", printable(username), host);
	return true;
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
