-- mod_auth_token's accounts, loaded with module:require "accounts": which
-- names exist (token_users), disabling, revocation (of a user, of a host, and
-- of a host whose secret left token_secret), the account API of Prosody 13's
-- usermanager, the admin shell's token:revoke, and where each FAST
-- credential's token login came from.
--
-- Account state, in whatever storage the host is configured with (servers
-- that share a database share it; nothing is cached between logins):
--   token_auth_accounts, by nodeprepped username: { known = true?, created,
--     disabled = true?, updated (last disable or enable), meta, revoked
--     (tokens of this step and before are refused), fast = { [sha256 of a
--     client id] = time of the token login its FAST credential came from } }
--   token_auth_host, one record: { revoked, secrets = { [fingerprint] = true } }
--
-- init(provider, context) adds the account functions to the provider and
-- returns what the token check and the FAST hooks ask of accounts.

local host = module.host;
local accounts = module:open_store("token_auth_accounts");
local host_store = module:open_store("token_auth_host");
local nodeprep = require "util.encodings".stringprep.nodeprep;
local hashes = require "util.hashes";
local floor, max = math.floor, math.max;


-- Set by init: the host's context.
local token_auth, verifier_config, now, printable, any_user, fast_max_lifetime;

-- The provider's account functions (init copies them onto the provider).
local api = {};

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

-- The OTP parameters, for telling which step a token was minted in (set by
-- init from the host's options).
local otp_params, otp_window;

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

-- With token_users = "known", a user exists once they logged in with a
-- token or an admin created them; with "any", every name exists.
function api.user_exists(username)
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
function api.users()
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
function api.set_password(username, password) -- luacheck: ignore 212/password
	local name, err = existing_account(username);
	if not name then
		return nil, err;
	end
	module:log("info", "Password for %s@%s discarded: token authentication has no passwords", printable(name), host);
	return true;
end

-- Registers the name (prosodyctl adduser, user:create): it exists from now
-- on, with no password.
function api.create_user(username, password) -- luacheck: ignore 212/password
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
function api.delete_user(username)
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
function api.get_account_info(username)
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

function api.is_enabled(username)
	local name, record = existing_account(username);
	if not name then
		return nil, record;
	end
	return not record.disabled;
end

function api.disable(username, meta)
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

function api.enable(username)
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
function api.revoke(username, close)
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
function api.revoke_host(close)
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
		return api.revoke(username, close);
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
		return api.revoke_host(close);
	end;
});

-- Prosody 0.12's shell (mod_admin_shell, a global module) reads its commands
-- from a shared table: the same two commands go there, each host's provider
-- found by the JID's host (0.12's usermanager has no disable_user).
local usermanager = package.loaded["core.usermanager"] or package.loaded["prosody.core.usermanager"];
if usermanager and not usermanager.disable_user then
	local providers = module:shared("/*/auth_token/providers");
	providers[host] = api;
	local unload = module.unload;
	function module.unload() -- luacheck: ignore 122 (Prosody calls module.unload)
		unload();
		if providers[host] == api then
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


-- mod_sasl2_fast keys FAST tokens by the SHA-256 of the client's id.
local function client_key(client_id)
	return hashes.sha256(client_id, true);
end

-- A token login that asks for a FAST token starts that client's chain: its
-- time is remembered; FAST logins and their rotations never move it.
local function record_fast_origin(username, client_id)
	local name = prep(username);
	if not name then
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
		fast[client_key(client_id)] = t;
		record.fast = fast;
		record, err = accounts:set(name, record);
	end
	if not record then
		module:log("error", "Cannot record the FAST origin of %s@%s: %s", printable(name), host, tostring(err));
	end
end

-- May this FAST credential still log in? true, or nil and a reason: no FAST
-- login happens later than token_fast_max_lifetime after the token login
-- the credential came from.
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

-- context: { token_auth, verifier_config (the options as the core took
-- them), now (the clock tokens are checked at), printable, any_user,
-- fast_max_lifetime }.
local function init(provider, context)
	token_auth, verifier_config, now = context.token_auth, context.verifier_config, context.now;
	printable, any_user, fast_max_lifetime = context.printable, context.any_user, context.fast_max_lifetime;
	local function core_default(name)
		for _, spec in ipairs(token_auth.options) do
			if spec.name == name then
				return spec.default;
			end
		end
	end
	otp_params = {
		digits = verifier_config.digits or core_default("digits");
		period = verifier_config.period or core_default("period");
		algorithm = verifier_config.algorithm or core_default("algorithm");
	};
	otp_window = verifier_config.window or core_default("window");
	for name, f in pairs(api) do
		provider[name] = f;
	end
	notice_removed_secrets();
	return {
		allows = account_allows;
		prep = prep;
		record_fast_origin = record_fast_origin;
		fast_allowed = fast_allowed;
	};
end

return { init = init };
