-- token_auth.nameprep / nodeprep and token_auth.options through the binding,
-- under whichever Lua runs busted (5.4, 5.1, LuaJIT: the same answers), and
-- cross-checked against Prosody's own util.encodings (libidn) where it loads.

describe("token_auth names", function()
	local token_auth = require "token_auth"

	-- name -> { nameprep, nodeprep } (false: refused)
	local cases = {
		["example.com"] = { "example.com", "example.com" },
		["Mixed.Test"] = { "mixed.test", "mixed.test" },
		["ALICE"] = { "alice", "alice" },
		["J\195\156RGEN"] = { "j\195\188rgen", "j\195\188rgen" }, -- JÜRGEN
		["Stra\195\159e"] = { "strasse", "strasse" }, -- Straße
		["\239\188\165\239\188\184.com"] = { "ex.com", "ex.com" }, -- fullwidth EX
		["al\194\173ice"] = { "alice", "alice" }, -- a soft hyphen maps to nothing
		["a b"] = { "a b", false },
		["a@b"] = { "a@b", false },
		["a:b"] = { "a:b", false },
		["a/b"] = { "a/b", false },
		["a\7b"] = { false, false },
		["\255"] = { false, false },
		[""] = { false, false },
	}

	it("prepares hosts and usernames with the stringprep profiles", function()
		for name, want in pairs(cases) do
			local host, host_problem = token_auth.nameprep(name)
			local user, user_problem = token_auth.nodeprep(name)
			assert.equal(want[1] or nil, host, "nameprep " .. name)
			assert.equal(want[2] or nil, user, "nodeprep " .. name)
			if not want[2] then
				assert.is_string(user_problem)
				assert.not_matches("[%c\128-\255]", user_problem) -- safe in a log line
			end
			if not want[1] then assert.is_string(host_problem) end
		end
		assert.same({ nil, "contains a prohibited character `@`" }, { token_auth.nodeprep("a@b") })
		assert.same({ nil, "is empty" }, { token_auth.nodeprep("") })
		assert.same({ nil, "is not valid UTF-8" }, { token_auth.nodeprep("\255") })
		assert.same({ nil, "is longer than 1023 bytes" }, { token_auth.nodeprep(("a"):rep(1024)) })
	end)

	it("agrees with Prosody's util.encodings where Prosody's libraries load", function()
		local fake_module = require "spec.support.fake_module"
		if not fake_module.prosody_available() then
			pending("Prosody's util.encodings does not load under " .. _VERSION)
			return
		end
		local stringprep = require "util.encodings".stringprep
		for name in pairs(cases) do
			-- libidn prepares "" to ""; Prosody refuses an empty JID part after it, we at once.
			if name == "" then name = "x" end
			-- libidn's nameprep leaves ASCII controls to IDNA's STD3 rules; we refuse them in a host.
			if name == "a\7b" then name = "y" end
			assert.equal(stringprep.nameprep(name, true) or nil, (token_auth.nameprep(name)), "nameprep " .. name)
			assert.equal(stringprep.nodeprep(name, true) or nil, (token_auth.nodeprep(name)), "nodeprep " .. name)
		end
	end)
end)

describe("token_auth.options", function()
	local token_auth = require "token_auth"

	it("lists every option once, with its Prosody name, kind, default and range", function()
		local seen = {}
		for _, option in ipairs(token_auth.options) do
			assert.is_nil(seen[option.name])
			seen[option.name] = option
			assert.matches("^[a-z_]+$", option.prosody)
			assert.is_string(option.description)
			if option.type == "integer" then
				assert.is_true(option.min <= option.default and option.default <= option.max, option.name)
			end
		end
		assert.same({ "token_otp_window", 1, 0, 10 },
			{ seen.window.prosody, seen.window.default, seen.window.min, seen.window.max })
		assert.is_true(seen.otp_seed.required and seen.token_secret.required)
		assert.same({ "SHA1", "SHA256", "SHA512" }, seen.algorithm.choices)
		assert.is_true(seen.replay_capacity.verifier_only)
	end)

	it("are the options the core enforces: each range's ends pass and one past fails, naming the option", function()
		local base = { otp_seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", token_secret = "0123456789abcdef" }
		for _, option in ipairs(token_auth.options) do
			if option.type == "integer" then
				for _, case in ipairs({ { option.min, true }, { option.max + 1, false }, { option.min - 1, false } }) do
					local config = { otp_seed = base.otp_seed, token_secret = base.token_secret }
					config[option.name] = case[1]
					if option.name:find("^replay_store_") then
						-- The store's timeouts mean something only with a store (parsed, not reached).
						config.replay_store = "redis://127.0.0.1:1"
					end
					if option.name:find("^jwt_") then
						-- The JWT options mean something only with a JWT key or secret
						-- (and the refresh only with a key URL, never fetched here).
						config.jwt_secret = string.rep("k", 32)
						config.jwt_keys_url = "https://idp.test/jwks"
					end
					local verifier, code, name, text = token_auth.new_verifier(config)
					assert.equal(case[2], verifier ~= nil, option.name .. " = " .. case[1])
					if not case[2] then
						assert.same({ "out_of_range", option.name }, { code, name })
						assert.matches("^must be an integer from " .. option.min .. " to " .. option.max, text)
					end
				end
			end
		end
	end)
end)
