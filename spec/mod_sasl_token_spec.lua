-- The X-TOKEN mechanism (lua/mod_sasl_token.lua) over Prosody's real util.sasl,
-- util.encodings and util.jid, with a scripted SASL profile in place of the
-- auth provider. Runs under Prosody's Lua (lua5.4).

describe("mod_sasl_token", function()
	local fake_module = require "spec.support.fake_module";
	local available, why = fake_module.prosody_available();
	if not available then
		pending("needs Prosody's libraries for " .. _VERSION .. " (" .. why .. ")");
		return;
	end
	local sasl = require "util.sasl";

	local loaded, load_err = fake_module.load_plugin(fake_module.new("example.com", "sasl_token", {}));
	assert(loaded, load_err);

	local TOKEN = "0123456701234567890123456789012345678901 c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlMDEyMzQ=";

	-- A profile that answers `answer` (ok, state, reason) and records what it saw.
	local function scripted(...)
		local answer = { n = select("#", ...), ... };
		local seen = { calls = {}, failures = {} };
		local profile = {
			token = function(self, username, token, realm)
				seen.calls[#seen.calls + 1] = { username = username, token = token, realm = realm, sasl_username = self.username };
				return table.unpack(answer, 1, answer.n);
			end;
			token_failure = function(_, username, reason)
				seen.failures[#seen.failures + 1] = { username = username, reason = reason };
			end;
		};
		return profile, seen;
	end

	local function run(profile, message)
		local handler = sasl.new("example.com", profile);
		assert.is_true(handler:select("X-TOKEN"));
		return { handler:process(message) }, handler;
	end

	it("is offered for profiles with a token backend", function()
		local handler = sasl.new("example.com", { token = function() end });
		assert.is_true(handler:mechanisms()["X-TOKEN"]);
		assert.is_nil(sasl.new("example.com", { plain_test = function() end }):mechanisms()["X-TOKEN"]);
	end);

	describe("a well-formed message", function()
		it("succeeds when the profile accepts the token", function()
			local profile, seen = scripted(true, true);
			local result, handler = run(profile, "\0alice\0" .. TOKEN);
			assert.same({ "success" }, result);
			assert.equal("alice", handler.username);
			assert.same({ { username = "alice", token = TOKEN, realm = "example.com", sasl_username = "alice" } }, seen.calls);
			assert.same({}, seen.failures);
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
			it("is refused with invalid-authzid: " .. authzid, function()
				local profile, seen = scripted(true, true);
				local result = run(profile, authzid .. "\0alice\0" .. TOKEN);
				assert.equal("failure", result[1]);
				assert.equal("invalid-authzid", result[2]);
				assert.same({}, seen.calls);
				assert.same({ { username = "alice", reason = "invalid_authzid" } }, seen.failures);
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
			it("fails with malformed-request for " .. name, function()
				local profile, seen = scripted(true, true);
				local result = run(profile, message);
				assert.equal("failure", result[1]);
				assert.equal("malformed-request", result[2]);
				assert.is_string(result[3]);
				assert.same({}, seen.calls);
				assert.same({ { username = username, reason = reason } }, seen.failures);
			end);
		end

		it("never names the token in the failure text", function()
			local profile = scripted(true, true);
			local result = run(profile, "\0alice\0" .. TOKEN .. "\0x");
			assert.is_nil(result[3]:find(TOKEN, 1, true));
		end);
	end);

	describe("the profile's reason", function()
		local mapping = {
			malformed = "malformed-request";
			nonce_length = "malformed-request";
			bad_encoding = "malformed-request";
			invalid_jid = "not-authorized";
			bad_signature = "not-authorized";
			otp_mismatch = "not-authorized";
			replayed = "not-authorized";
			replay_cache_full = "temporary-auth-failure";
			replay_user_full = "temporary-auth-failure";
			replay_store_unavailable = "temporary-auth-failure";
			some_future_code = "not-authorized";
		};
		for reason, condition in pairs(mapping) do
			it("maps " .. reason .. " to " .. condition .. " without reporting it twice", function()
				local profile, seen = scripted(false, true, reason);
				local result = run(profile, "\0alice\0" .. TOKEN);
				assert.equal("failure", result[1]);
				assert.equal(condition, result[2]);
				assert.equal(1, #seen.calls);
				assert.same({}, seen.failures); -- the provider logged and counted it
			end);
		end

		it("covers every reason token_auth can give", function()
			local token_auth = require "token_auth";
			for reason in pairs(token_auth.reasons) do
				assert.is_not_nil(mapping[reason], reason);
			end
		end);

		it("is not-authorized, reported as refused, when a provider gives none", function()
			local profile, seen = scripted(false, true);
			assert.same("not-authorized", run(profile, "\0alice\0" .. TOKEN)[2]);
			assert.same({ { username = "alice", reason = "refused" } }, seen.failures);
		end);

		it("is account-disabled when the provider says state false", function()
			local profile, seen = scripted(true, false);
			assert.same("account-disabled", run(profile, "\0alice\0" .. TOKEN)[2]);
			assert.same({ { username = "alice", reason = "account_disabled" } }, seen.failures);
		end);
	end);

	describe("a provider that raises an error", function()
		it("yields temporary-auth-failure instead of letting the error escape", function()
			local failures = {};
			local profile = {
				token = function() error("boom"); end;
				token_failure = function(_, username, reason) failures[#failures + 1] = { username, reason }; end;
			};
			local result = run(profile, "\0alice\0" .. TOKEN);
			assert.same({ "failure", "temporary-auth-failure" }, { result[1], result[2] });
			assert.same({ { "alice", "internal_error" } }, failures);
		end);

		it("survives a failure report that raises", function()
			local profile = {
				token = function() return true, true; end;
				token_failure = function() error("boom"); end;
			};
			assert.same("malformed-request", run(profile, "")[2]);
		end);
	end);
end);
