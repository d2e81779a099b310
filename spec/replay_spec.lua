-- The in-process replay cache's two guarantees added for issue 10, through
-- the Lua API: entries live by time (a colliding OTP step cannot reopen a
-- used token) and each user has a bounded share (one account cannot fill
-- the cache for everybody). Runs under Lua 5.4, 5.1 and LuaJIT.

describe("the in-process replay cache", function()
	local token_auth = require "token_auth"
	local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	local SECRET = "replay-spec-secret-0123456789"
	local T = 1700000010

	local function config(extra)
		local c = { otp_seed = SEED, token_secret = SECRET }
		for k, v in pairs(extra or {}) do c[k] = v end
		return c
	end

	local function mint(user, n, extra)
		local c = config(extra)
		c.time = c.time or T
		c.nonce = ("%032d"):format(n)
		return token_auth.generate_token(user, "example.com", c)
	end

	describe("with a colliding OTP step (6 digits, the issue's case)", function()
		-- Steps 61797158 and 61797159 of this seed share the code 798389 (pyotp agrees).
		local short = { otp_seed = "XVGR73KMZH2M4XMYXVGR73KMZH2M4XMY", digits = 6 }
		local s = 61797158

		it("has the two steps share a code", function()
			assert.equal("798389", token_auth.totp(short.otp_seed, { digits = 6, time = s * 30 }))
			assert.equal("798389", token_auth.totp(short.otp_seed, { digits = 6, time = (s + 1) * 30 }))
		end)

		it("keeps refusing the token until it is out of reach at every step", function()
			local verifier = assert(token_auth.new_verifier(config(short)))
			local token = mint("alice", 1, { otp_seed = short.otp_seed, digits = 6, time = s * 30 })
			assert.same({ true }, { verifier:verify("alice", "example.com", token, s * 30 + 1) })
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", token, (s + 1) * 30 + 1) })
			-- The first version accepted it again here.
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", token, (s + 2) * 30 + 1) })
			assert.same({ nil, "otp_mismatch" }, { verifier:verify("alice", "example.com", token, (s + 3) * 30 + 1) })
			assert.equal(0, verifier:stats().replay_entries)
		end)
	end)

	describe("replay_per_user", function()
		it("refuses a user's fourth live token at 3 per user, while three other users pass (capacity 10)", function()
			local verifier = assert(token_auth.new_verifier(config { replay_capacity = 10, replay_per_user = 3 }))
			for n = 1, 3 do
				assert.same({ true }, { verifier:verify("alice", "example.com", mint("alice", n), T) })
			end
			assert.same({ nil, "replay_user_full" }, { verifier:verify("alice", "example.com", mint("alice", 4), T) })
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", mint("alice", 1), T) })
			for n, user in ipairs({ "bob", "carol", "dave" }) do
				assert.same({ true }, { verifier:verify(user, "example.com", mint(user, 10 + n), T) }, user)
			end
			local stats = verifier:stats()
			assert.equal(6, stats.replay_entries)
			assert.equal(3, stats.replay_per_user)
			-- Alice's share comes back as her tokens expire.
			local later = T + 90
			assert.same({ true }, { verifier:verify("alice", "example.com", mint("alice", 5, { time = later }), later) })
		end)

		it("defaults to 100, and is an integer from 1", function()
			assert.equal(100, assert(token_auth.new_verifier(config())):stats().replay_per_user)
			for _, bad in ipairs({ 0, -1, 1.5, "many" }) do
				local verifier, code, option = token_auth.new_verifier(config { replay_per_user = bad })
				assert.is_nil(verifier)
				assert.equal("replay_per_user", option)
				assert.equal((type(bad) == "number" and bad % 1 == 0) and "out_of_range" or "wrong_type", code)
			end
		end)

		it("has a reason code of its own", function()
			assert.is_string(token_auth.reasons.replay_user_full)
			assert.is_string(token_auth.reasons.replay_store_unavailable)
		end)
	end)

	describe("replay_store options without a store", function()
		it("are refused rather than ignored", function()
			local verifier, code, option = token_auth.new_verifier(config { replay_store_timeout = 10 })
			assert.is_nil(verifier)
			assert.same({ "conflict", "replay_store" }, { code, option })
		end)
	end)
end)
