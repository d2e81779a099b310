-- mod_sasl_token: the X-TOKEN SASL mechanism, a drop-in for the community module.
--
-- Message (like PLAIN, RFC 4616): authzid NUL authcid NUL token, exactly three
-- fields. authcid and token are SASLprepped and authcid nodeprepped as Prosody
-- does for PLAIN; authzid must be empty, the authcid, or the authcid's bare JID.
-- The token is checked by the auth provider's SASL profile:
--
--   profile.token(sasl, username, token, realm) -> ok, state [, reason]
--       (mod_auth_token; reason is a token_auth reason code)
--   profile.token_failure(sasl, username, reason)   (optional)
--       told about failures found here, before the provider saw the token,
--       so that it can log and count them with the rest
--
-- Every outcome is a "success" or a "failure" with a SASL condition: no Lua
-- error escapes to Prosody, so mod_saslauth and rate limiters see every attempt.
-- The mechanism itself is not offered on unencrypted connections unless PLAIN
-- would be; mod_auth_token decides that when it builds the profile.

local s_match = string.match;
local pcall, type = pcall, type;
local sasl = require "util.sasl";
local encodings = require "util.encodings";
local saslprep = encodings.stringprep.saslprep;
local nodeprep = encodings.stringprep.nodeprep;
local jid_prep = require "util.jid".prep;
local log = require "util.logger".init("sasl_token");

-- Reason codes found here, before the provider sees the token:
--   malformed_request  the message is not authzid NUL authcid NUL token
--   invalid_username   the authcid is empty or fails SASLprep or nodeprep
--   malformed          the token is empty or fails SASLprep (token_auth's code
--                      for a token that is not <digits> <base64>)
--   invalid_authzid    the authzid is neither empty, the authcid nor its bare JID
--   account_disabled   the provider answered with state false
--   internal_error     the provider raised an error
-- The other codes are token_auth's, passed on by mod_auth_token.

-- Reason code -> SASL condition (RFC 6120 section 6.5).
local conditions = {
	malformed_request = "malformed-request";
	invalid_username = "malformed-request";
	malformed = "malformed-request";
	nonce_length = "malformed-request";
	bad_encoding = "malformed-request";
	invalid_authzid = "invalid-authzid";
	invalid_jid = "not-authorized";
	bad_signature = "not-authorized";
	otp_mismatch = "not-authorized";
	replayed = "not-authorized";
	account_disabled = "account-disabled";
	replay_cache_full = "temporary-auth-failure";
	replay_user_full = "temporary-auth-failure";
	replay_store_unavailable = "temporary-auth-failure";
	internal_error = "temporary-auth-failure";
};

-- What the client reads: the condition, never why a signature failed.
local texts = {
	["malformed-request"] = "Malformed X-TOKEN message or token";
	["invalid-authzid"] = "The authorization identity must be empty or your own JID";
	["not-authorized"] = "Unable to authorize you with the token you've sent";
	["account-disabled"] = "Account disabled";
	["temporary-auth-failure"] = "Token authentication is temporarily unavailable, try again later";
};

local function condition_for(reason)
	return conditions[reason] or "not-authorized";
end

local function fail(self, username, reason, told)
	if not told then
		local report = self.profile.token_failure;
		if report then
			local ok, err = pcall(report, self, username, reason);
			if not ok then
				log("error", "X-TOKEN failure report raised an error: %s", err);
			end
		else
			log("debug", "X-TOKEN failed for %s: %s", username or "?", reason);
		end
	end
	local condition = condition_for(reason);
	return "failure", condition, texts[condition];
end

local function authzid_is_allowed(authzid, username, realm)
	if authzid == "" or authzid == username then
		return true;
	end
	local prepped = jid_prep(authzid);
	return prepped ~= nil and (prepped == username or prepped == username .. "@" .. realm);
end

local function x_token(self, message)
	if type(message) ~= "string" then
		return fail(self, nil, "malformed_request");
	end
	local authzid, authcid, token = s_match(message, "^([^%z]*)%z([^%z]*)%z([^%z]*)$");
	if not authzid then
		return fail(self, nil, "malformed_request");
	end

	local username = saslprep(authcid);
	if username and username ~= "" then
		local _nodeprep = self.profile.nodeprep;
		if _nodeprep ~= false then
			username = (_nodeprep or nodeprep)(username);
		end
	end
	if not username or username == "" then
		return fail(self, nil, "invalid_username");
	end

	token = saslprep(token);
	if not token or token == "" then
		return fail(self, username, "malformed");
	end

	if not authzid_is_allowed(authzid, username, self.realm) then
		return fail(self, username, "invalid_authzid");
	end

	local check = self.profile.token;
	if type(check) ~= "function" then
		return fail(self, username, "internal_error");
	end
	self.username = username;
	local called, ok, state, reason = pcall(check, self, username, token, self.realm);
	if not called then
		log("error", "X-TOKEN: the auth provider raised an error: %s", ok);
		return fail(self, username, "internal_error");
	end
	if state == false then
		return fail(self, username, "account_disabled");
	elseif state == nil or not ok then
		-- The provider logged and counted its own refusal when it gave a reason.
		return fail(self, username, reason or "refused", reason ~= nil);
	end
	return "success";
end

sasl.registerMechanism("X-TOKEN", { "token" }, x_token);

module:log("debug", "X-TOKEN SASL mechanism registered");

