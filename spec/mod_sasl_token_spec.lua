-- The X-TOKEN mechanism (lua/mod_sasl_token.lua) over Prosody's real util.sasl,
-- util.encodings and util.jid, with a scripted SASL profile in place of the
-- auth provider. Runs under Prosody's Lua (lua5.4).

describe("mod_sasl_token #plugins", function()
	local fake_module = require "spec.support.fake_module";
	if not fake_module.ready(true) then
		return;
	end
	local sasl = require "util.sasl";

	local TOKEN = "0123456701234567890123456789012345678901 c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlMDEyMzQ=";

	-- A profile that answers `answer` (ok, state, condition) and records what it saw.
	local function scripted(...)
		local answer = { n = select("#", ...), ... };
		local seen = { calls = {} };
		local profile = {
			token = function(self, username, token, realm)
				seen.calls[#seen.calls + 1] = { username = username, token = token, realm = realm, sasl_username = self.username };
				return table.unpack(answer, 1, answer.n);
			end;
		};
		return profile, seen;
	end

	-- The handler's answer, and the reason the mechanism left on it (what
	-- mod_auth_token logs from Prosody's authentication-failure event).
	local function run(profile, message)
		local handler = sasl.new("example.com", profile);
		assert.is_true(handler:select("X-TOKEN"));
		local result = { handler:process(message) };
		return result, handler.token_failure, handler;
	end

	it("is offered for profiles with a token backend", function()
		local handler = sasl.new("example.com", { token = function() end });
		assert.is_true(handler:mechanisms()["X-TOKEN"]);
		assert.is_nil(sasl.new("example.com", { plain_test = function() end }):mechanisms()["X-TOKEN"]);
	end);

	describe("a well-formed message", function()
		it("succeeds when the profile accepts the token", function()
			local profile, seen = scripted(true, true);
			local result, reason, handler = run(profile, "\0alice\0" .. TOKEN);
			assert.same({ "success" }, result);
			assert.is_nil(reason);
			assert.equal("alice", handler.username);
			assert.same({ { username = "alice", token = TOKEN, realm = "example.com", sasl_username = "alice" } }, seen.calls);
		end);

		it("passes the nodeprepped username, as Prosody's PLAIN does", function()
			local profile, seen = scripted(true, true);
			assert.same({ "success" }, run(profile, "\0Alice\0" .. TOKEN));
			assert.equal("alice", seen.calls[1].username);
		end);

		it("leaves the username alone when the profile disables nodeprep", function()
			local profile, seen = scripted(true, true);
			profile.nodeprep = false;
			assert.same({ "success" }, run(profile, "\0Alice\0" .. TOKEN));
			assert.equal("Alice", seen.calls[1].username);
		end);

		it("SASLpreps the token, mapping fullwidth digits to ASCII", function()
			local profile, seen = scripted(true, true);
			local fullwidth_one = "\239\188\145"; -- U+FF11 FULLWIDTH DIGIT ONE
			assert.same({ "success" }, run(profile, "\0alice\0" .. fullwidth_one .. TOKEN:sub(2)));
			assert.equal("1" .. TOKEN:sub(2), seen.calls[1].token);
		end);

		for _, authzid in ipairs({ "alice", "Alice", "alice@example.com", "Alice@Example.COM" }) do
			it("accepts the authzid " .. authzid, function()
				local profile = scripted(true, true);
				assert.same({ "success" }, run(profile, authzid .. "\0alice\0" .. TOKEN));
			end);
		end
	end);

	describe("an authzid for someone else", function()
		for _, authzid in ipairs({ "bob", "bob@example.com", "alice@example.org", "alice@example.com/phone", "\255" }) do
			it("is refused with invalid-authzid, reason invalid_authzid: " .. authzid, function()
				local profile, seen = scripted(true, true);
				local result, reason, handler = run(profile, authzid .. "\0alice\0" .. TOKEN);
				assert.equal("failure", result[1]);
				assert.equal("invalid-authzid", result[2]);
				assert.same({}, seen.calls);
				assert.same({ "invalid_authzid", "alice" }, { reason, handler.username });
			end);
		end
	end);

	describe("a malformed message", function()
		local cases = {
			{ "no message at all", nil, "malformed_request" };
			{ "an empty message", "", "malformed_request" };
			{ "no NUL", "alice " .. TOKEN, "malformed_request" };
			{ "one NUL", "alice\0" .. TOKEN, "malformed_request" };
			{ "trailing data after a third NUL", "\0alice\0" .. TOKEN .. "\0junk", "malformed_request" };
			{ "a trailing NUL", "\0alice\0" .. TOKEN .. "\0", "malformed_request" };
			{ "a NUL inside the token", "\0alice\0" .. TOKEN:sub(1, 10) .. "\0" .. TOKEN:sub(11), "malformed_request" };
			{ "an empty authcid", "\0\0" .. TOKEN, "invalid_username" };
			{ "an authcid that fails nodeprep", "\0al ice\0" .. TOKEN, "invalid_username" };
			{ "an authcid with invalid UTF-8", "\0al\255ice\0" .. TOKEN, "invalid_username" };
			{ "an authcid with a control character", "\0al\1ice\0" .. TOKEN, "invalid_username" };
			{ "an empty token", "\0alice\0", "malformed", "alice" };
			{ "a token with invalid UTF-8", "\0alice\0" .. TOKEN .. "\192", "malformed", "alice" };
			{ "a token with a control character", "\0alice\0\1" .. TOKEN, "malformed", "alice" };
			{ "10 KB of garbage", ("\0\255x"):rep(3414), "malformed_request" };
		};
		for _, case in ipairs(cases) do
			local name, message, reason, username = case[1], case[2], case[3], case[4];
			it("fails with malformed-request, reason " .. reason .. ", for " .. name, function()
				local profile, seen = scripted(true, true);
				local result, left, handler = run(profile, message);
				assert.equal("failure", result[1]);
				assert.equal("malformed-request", result[2]);
				assert.is_string(result[3]);
				assert.same({}, seen.calls);
				assert.equal(reason, left);
				assert.equal(username, handler.username);
			end);
		end

		it("never names the token in the failure text", function()
			local profile = scripted(true, true);
			local result = run(profile, "\0alice\0" .. TOKEN .. "\0x");
			assert.is_nil(result[3]:find(TOKEN, 1, true));
		end);
	end);

	describe("the profile's answer", function()
		for _, condition in ipairs({ "malformed-request", "not-authorized", "temporary-auth-failure" }) do
			it("is passed on as the condition " .. condition .. ", leaving no reason (the provider logged it)", function()
				local profile, seen = scripted(false, true, condition);
				local result, reason = run(profile, "\0alice\0" .. TOKEN);
				assert.same({ "failure", condition }, { result[1], result[2] });
				assert.is_string(result[3]);
				assert.equal(1, #seen.calls);
				assert.is_nil(reason);
			end);
		end

		it("is not-authorized when the provider names no condition", function()
			local profile = scripted(false, true);
			local result, reason = run(profile, "\0alice\0" .. TOKEN);
			assert.same({ "failure", "not-authorized" }, { result[1], result[2] });
			assert.is_nil(reason);
		end);

		it("is not-authorized when the provider gives no state", function()
			local result = run(scripted(true, nil), "\0alice\0" .. TOKEN);
			assert.same({ "failure", "not-authorized" }, { result[1], result[2] });
		end);

		it("clears the reason of an earlier failure on the same handler", function()
			local handler = sasl.new("example.com", scripted(true, true));
			handler:select("X-TOKEN");
			handler:process("garbage");
			assert.equal("malformed_request", handler.token_failure);
			assert.same({ "success" }, { handler:process("\0alice\0" .. TOKEN) });
			assert.is_nil(handler.token_failure);
		end);

		it("is account-disabled when the provider says state false, even for a valid token", function()
			for _, ok in ipairs({ true, false }) do
				local profile = scripted(ok, false);
				local result, reason = run(profile, "\0alice\0" .. TOKEN);
				assert.same({ "failure", "account-disabled" }, { result[1], result[2] });
				assert.is_nil(reason);
			end
		end);
	end);

	describe("a provider that raises an error", function()
		it("yields temporary-auth-failure, reason internal_error, instead of letting the error escape", function()
			local profile = { token = function() error("boom"); end };
			local result, reason = run(profile, "\0alice\0" .. TOKEN);
			assert.same({ "failure", "temporary-auth-failure" }, { result[1], result[2] });
			assert.equal("internal_error", reason);
		end);
	end);
end);
