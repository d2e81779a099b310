-- mod_sasl_token: the X-TOKEN SASL mechanism, a drop-in for the community module.
--
-- Shaped like Prosody's util/sasl/plain.lua: parse the message, validate it,
-- ask the SASL profile, return "success" or "failure", condition, text.
--
-- Message (like PLAIN, RFC 4616): authzid NUL authcid NUL token, exactly three
-- fields. authcid and token are SASLprepped and authcid nodeprepped as Prosody
-- does for PLAIN; authzid must be empty, the authcid, or the authcid's bare JID.
--
-- Profile (mod_auth_token provides it):
--
--   token = function(sasl, username, token, realm)
--       return true or false, state [, condition]
--   end
--
-- state false means the account is disabled (account-disabled), nil that the
-- token was refused; condition (a SASL condition, default not-authorized)
-- says how. The provider logs and counts what it refuses. What this mechanism
-- refuses before the token reaches the provider it leaves as a short reason on
-- the handler (sasl.token_failure), for whoever handles Prosody's
-- authentication-failure event (mod_auth_token logs and counts it there):
--   malformed_request  the message is not authzid NUL authcid NUL token
--   invalid_username   the authcid is empty or fails SASLprep or nodeprep
--   malformed          the token is empty or fails SASLprep
--   invalid_authzid    the authzid is neither empty, the authcid nor its bare JID
--   internal_error     the profile raised an error
--
-- No Lua error escapes to Prosody, so mod_saslauth, mod_sasl2 and rate
-- limiters see every attempt as a SASL failure.

local s_match = string.match;
local pcall = pcall;
local registerMechanism = require "util.sasl".registerMechanism;
local encodings = require "util.encodings";
local saslprep = encodings.stringprep.saslprep;
local nodeprep = encodings.stringprep.nodeprep;
local jid_prep = require "util.jid".prep;
local log = require "util.logger".init("sasl_token");

local _ENV = nil; -- luacheck: ignore 211
-- luacheck: std none

-- What the client reads: the condition, never why a signature failed.
local texts = {
	["malformed-request"] = "Malformed X-TOKEN message or token";
	["invalid-authzid"] = "The authorization identity must be empty or your own JID";
	["not-authorized"] = "Unable to authorize you with the token you've sent";
	["account-disabled"] = "Account disabled";
	["temporary-auth-failure"] = "Token authentication is temporarily unavailable, try again later";
};

-- A refusal found here: the reason stays on the handler for the log.
local function refuse(self, reason, condition)
	self.token_failure = reason;
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
	self.token_failure = nil;
	if not message then
		return refuse(self, "malformed_request", "malformed-request");
	end
	local authzid, authcid, token = s_match(message, "^([^%z]*)%z([^%z]*)%z([^%z]*)$");
	if not authzid then
		return refuse(self, "malformed_request", "malformed-request");
	end

	local username = saslprep(authcid);
	if username and username ~= "" then
		local _nodeprep = self.profile.nodeprep;
		if _nodeprep ~= false then
			username = (_nodeprep or nodeprep)(username);
		end
	end
	if not username or username == "" then
		return refuse(self, "invalid_username", "malformed-request");
	end
	self.username = username;

	-- SASLprep changes nothing in a token of base64url characters and dots
	-- (any JWT), and Prosody's stringprep refuses input over 1023 bytes, which
	-- identity providers' JWTs often are: such a token goes through as it is.
	if not s_match(token, "^[%w%-_%.]+$") then
		token = saslprep(token);
	end
	if not token or token == "" then
		return refuse(self, "malformed", "malformed-request");
	end

	if not authzid_is_allowed(authzid, username, self.realm) then
		return refuse(self, "invalid_authzid", "invalid-authzid");
	end

	local called, ok, state, condition = pcall(self.profile.token, self, username, token, self.realm);
	if not called then
		log("error", "X-TOKEN: the auth provider raised an error: %s", ok);
		return refuse(self, "internal_error", "temporary-auth-failure");
	end
	if state == false then
		return "failure", "account-disabled", texts["account-disabled"];
	elseif state == nil or not ok then
		condition = condition or "not-authorized";
		return "failure", condition, texts[condition];
	end
	return "success";
end

registerMechanism("X-TOKEN", { "token" }, x_token);
