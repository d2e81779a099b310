-- The auth provider with JWTs, in a fake `module`, over the real native
-- token_auth and the real util.sasl of the Prosody under test (0.12 or 13):
-- JWT-only configurations, PLAIN and X-TOKEN with a JWT, OAUTHBEARER where
-- util.sasl has it. The JWT is a fixed HS256 token made by PyJWT 2.15.

describe("mod_auth_token with JWTs #plugins", function()
	local fake_module = require "spec.support.fake_module";
	if not fake_module.ready(true) then
		return;
	end

	local HOST = "example.com";
	local NOW = 1700000010;
	local SECRET = "a JWT secret for the hostile spec, 32+ bytes";
	-- { sub = "alice", exp = NOW + 300, iat = NOW, jti = "hostile" }, HS256 with SECRET.
	local JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDMxMCwiaWF0IjoxNzAwMDAwMDEwLCJqdGkiOiJob3N0aWxlIn0"
		.. ".VI-VIjMtj_j78aO1oms6TMDvBDF072LOoEh4inT0SFA";

	local function load(options)
		local m = fake_module.new(HOST, "auth_token", options, { now = function() return NOW; end });
		local ok, err = fake_module.load_plugin(m);
		return ok and m or nil, ok and m.provided.auth or err;
	end

	local function mechanisms(provider)
		local names = {};
		for name in pairs(provider.get_sasl_handler({ secure = true }):mechanisms()) do
			names[#names + 1] = name;
		end
		table.sort(names);
		return names;
	end

	it("loads with JWT keys alone, and still wants the classic options without them", function()
		local m, provider = load({ token_jwt_secret = SECRET });
		assert.is_table(m, provider);
		local _, err = load({});
		assert.matches("option token_secret is not set", err, 1, true);
		_, err = load({ token_jwt_secret = "tiny-secret" });
		assert.matches("option token_jwt_secret ", err, 1, true);
		assert.is_nil(err:find("tiny", 1, true));
	end);

	it("takes a JWT as a password once, and logs its refusals by reason", function()
		local m, provider = load({ token_jwt_secret = SECRET });
		assert.same({ true }, { provider.test_password("alice", JWT) });
		assert.same({ nil, "replayed" }, { provider.test_password("alice", JWT) });
		local _, other = load({ token_jwt_secret = SECRET });
		assert.same({ nil, "jwt_wrong_user" }, { other.test_password("bob", JWT) });
		local messages = table.concat(fake_module.messages(m, "info"), "\n");
		assert.matches("Token refused for alice@example.com via test_password: replayed", messages, 1, true);
		assert.is_nil(messages:find(JWT, 1, true));
	end);

	it("takes a JWT over X-TOKEN, malformed ones refused as malformed-request", function()
		local _, provider = load({ token_jwt_secret = SECRET });
		local handler = provider.get_sasl_handler({ secure = true });
		assert.is_true(handler:select("X-TOKEN"));
		assert.same({ "success" }, { handler:process("\0alice\0" .. JWT) });
		local bad = provider.get_sasl_handler({ secure = true });
		bad:select("X-TOKEN");
		local status, condition = bad:process("\0alice\0" .. ("e"):rep(3000) .. ".e30.c2ln");
		assert.same({ "failure", "malformed-request" }, { status, condition });
	end);

	it("offers OAUTHBEARER where util.sasl has it, the user named by the token", function()
		local _, provider = load({ token_jwt_secret = SECRET });
		local offered = mechanisms(provider);
		local has_oauthbearer = false;
		for _, name in ipairs(offered) do has_oauthbearer = has_oauthbearer or name == "OAUTHBEARER"; end
		local sasl_path = package.searchpath and (package.searchpath("util.sasl.oauthbearer", package.path)
			or package.searchpath("prosody.util.sasl.oauthbearer", package.path));
		assert.equal(sasl_path ~= nil, has_oauthbearer, table.concat(offered, ","));
		if not has_oauthbearer then
			return;
		end
		local handler = provider.get_sasl_handler({ secure = true });
		assert.is_true(handler:select("OAUTHBEARER"));
		assert.same({ "success" }, { handler:process("n,,\1auth=Bearer " .. JWT .. "\1\1") });
		assert.equal("alice", handler.username);
		-- Replayed: RFC 7628's error challenge.
		local again = provider.get_sasl_handler({ secure = true });
		again:select("OAUTHBEARER");
		local status, challenge = again:process("n,,\1auth=Bearer " .. JWT .. "\1\1");
		assert.equal("challenge", status);
		assert.matches("invalid_token", challenge, 1, true);
		-- An authzid for someone else is refused.
		local _, fresh = load({ token_jwt_secret = SECRET });
		local other = fresh.get_sasl_handler({ secure = true });
		other:select("OAUTHBEARER");
		assert.equal("challenge", (other:process("n,a=bob@example.com,\1auth=Bearer " .. JWT .. "\1\1")));
		-- Without JWT options it is not offered.
		local _, classic = load({ otp_seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", token_secret = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7" });
		assert.same({ "PLAIN", "X-TOKEN" }, mechanisms(classic));
	end);
end);
