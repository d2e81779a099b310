-- The native module's Lua API, against the built .so of the running
-- interpreter (see spec/helper.lua).

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7"
local NONCE = "01234567890123456789012345678901"
local T = 1700000010 -- the start of a 30 s step

local function config(extra)
	local c = { otp_seed = SEED, token_secret = SECRET }
	for k, v in pairs(extra or {}) do c[k] = v end
	return c
end

describe("token_auth", function()
	local token_auth = require "token_auth"

	it("has a version and a text for every reason code", function()
		assert.is_string(token_auth.version)
		local codes = {}
		for code, text in pairs(token_auth.reasons) do
			assert.matches("^[a-z_]+$", code)
			assert.is_true(#text > 10)
			codes[#codes + 1] = code
		end
		table.sort(codes)
		assert.same({ "bad_encoding", "bad_signature", "invalid_jid",
			"jwt_alg_none", "jwt_alg_not_allowed", "jwt_audience", "jwt_bad_claims", "jwt_bad_encoding",
			"jwt_bad_header", "jwt_bad_signature", "jwt_expired", "jwt_issued_in_future", "jwt_issuer",
			"jwt_lifetime_too_long", "jwt_malformed", "jwt_missing_exp", "jwt_missing_username",
			"jwt_no_key_for_alg", "jwt_not_yet_valid", "jwt_too_large", "jwt_unknown_kid", "jwt_wrong_host",
			"jwt_wrong_user", "malformed", "nonce_length",
			"otp_mismatch", "replay_cache_full", "replay_store_unavailable", "replay_user_full", "replayed" }, codes)
	end)

	describe("totp()", function()
		-- RFC 6238 appendix B; the seed is base32 of "12345678901234567890".
		local rfc_seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

		it("reproduces the RFC 6238 SHA1 vectors", function()
			assert.equal("94287082", token_auth.totp(rfc_seed, { time = 59 }))
			assert.equal("07081804", token_auth.totp(rfc_seed, { time = 1111111109 }))
			assert.equal("89005924", token_auth.totp(rfc_seed, { time = 1234567890 }))
			assert.equal("65353130", token_auth.totp(rfc_seed, { time = 20000000000 }))
		end)

		it("reproduces the RFC 6238 SHA256 and SHA512 vectors", function()
			local seed256 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
			local seed512 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNA"
			assert.equal("46119246", token_auth.totp(seed256, { time = 59, algorithm = "SHA256" }))
			assert.equal("90693936", token_auth.totp(seed512, { time = 59, algorithm = "SHA512" }))
		end)

		it("honours digits and period, and floors fractional times", function()
			assert.equal("287082", token_auth.totp(rfc_seed, { time = 59, digits = 6 }))
			assert.equal(token_auth.totp(rfc_seed, { time = 59.99 }), token_auth.totp(rfc_seed, { time = 30 }))
			assert.equal(token_auth.totp(rfc_seed, { time = 120, period = 60 }), token_auth.totp(rfc_seed, { time = 60 }))
		end)

		it("accepts lower case and padding anywhere in the seed", function()
			local want = token_auth.totp(SEED, { time = T })
			assert.equal(want, token_auth.totp(SEED:lower(), { time = T }))
			assert.equal(want, token_auth.totp(SEED:sub(1, 16) .. "==" .. SEED:sub(17) .. "=", { time = T }))
		end)

		it("uses the current time when none is given", function()
			local now = os.time()
			local code = token_auth.totp(SEED)
			assert.matches("^%d%d%d%d%d%d%d%d$", code)
			-- Either side of a step boundary crossed during the call.
			assert.is_true(code == token_auth.totp(SEED, { time = now }) or code == token_auth.totp(SEED, { time = now + 1 }))
		end)

		it("raises on a bad seed or option, naming it", function()
			assert.error_matches(function() token_auth.totp("not base32!") end, "otp_seed")
			assert.error_matches(function() token_auth.totp("AAAA") end, "too short")
			assert.error_matches(function() token_auth.totp(SEED, { digits = 5 }) end, "digits")
			assert.error_matches(function() token_auth.totp(SEED, { algorithm = "MD5" }) end, "algorithm")
			assert.error_matches(function() token_auth.totp(SEED, { time = -1 }) end, "time")
			assert.error_matches(function() token_auth.totp(SEED, { tiem = 1 }) end, "unknown option \"tiem\"")
			assert.error_matches(function() token_auth.totp({}) end, "bad argument #1")
		end)
	end)

	describe("generate_token() and verify_token()", function()
		it("mint tokens in the community module's format that verify", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
			assert.matches("^%d%d%d%d%d%d%d%d" .. NONCE .. " [%w+/]+=$", token)
			assert.equal(8 + 32 + 1 + 44, #token)
			assert.same({ true }, { token_auth.verify_token("alice", "example.com", token, config { time = T }) })
		end)

		it("starts with the TOTP of the given time and the nonce", function()
			-- The signature itself is checked against Python's hmac in
			-- spec/crosscheck_spec.lua.
			local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
			local otp = token_auth.totp(SEED, { time = T })
			assert.equal(otp .. NONCE, token:sub(1, 40))
		end)

		it("draws a fresh random nonce for each token", function()
			local a = token_auth.generate_token("alice", "example.com", config { time = T })
			local b = token_auth.generate_token("alice", "example.com", config { time = T })
			assert.not_equal(a:sub(9, 40), b:sub(9, 40))
			assert.matches("^%d+$", a:sub(9, 40))
		end)

		it("is stateless: the same token verifies again", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			assert.is_true(token_auth.verify_token("alice", "example.com", token, config { time = T }))
			assert.is_true(token_auth.verify_token("alice", "example.com", token, config { time = T }))
		end)

		it("refuses another user, another host and another secret", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("bob", "example.com", token, config { time = T }) })
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("alice", "example.org", token, config { time = T }) })
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("alice", "example.com", token,
				config { time = T, token_secret = "another secret of enough length" }) })
		end)

		it("accepts the previous and next step and nothing further", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
			local step_start = T - T % 30
			assert.is_true(token_auth.verify_token("alice", "example.com", token, config { time = step_start - 30 }))
			assert.is_true(token_auth.verify_token("alice", "example.com", token, config { time = step_start + 59.9 }))
			assert.same({ nil, "otp_mismatch" }, { token_auth.verify_token("alice", "example.com", token, config { time = step_start - 30.5 }) })
			assert.same({ nil, "otp_mismatch" }, { token_auth.verify_token("alice", "example.com", token, config { time = step_start + 60 }) })
			assert.is_true(token_auth.verify_token("alice", "example.com", token, config { time = step_start + 60, window = 2 }))
		end)

		it("refuses the 42/142 forgery of the original", function()
			local token = token_auth.generate_token("42", "example.com",
				config { time = T, nonce = "00000000000000000000000000000001" })
			assert.is_true(token_auth.verify_token("42", "example.com", token, config { time = T }))
			-- Move the nonce's last digit into the username.
			local forged = token:sub(1, 39) .. token:sub(41)
			assert.same({ nil, "nonce_length" }, { token_auth.verify_token("142", "example.com", forged, config { time = T }) })
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("142", "example.com", token, config { time = T }) })
		end)

		it("accepts every listed secret and mints with the first", function()
			local old = token_auth.generate_token("alice", "example.com", config { time = T })
			local rotated = config { time = T, token_secret = { "the new secret, first in the list", SECRET } }
			assert.is_true(token_auth.verify_token("alice", "example.com", old, rotated))
			local new = token_auth.generate_token("alice", "example.com", rotated)
			assert.is_true(token_auth.verify_token("alice", "example.com", new, rotated))
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("alice", "example.com", new, config { time = T }) })
		end)

		it("honours digits, period, algorithm and nonce_length together", function()
			local custom = config { time = T, digits = 6, period = 60, algorithm = "SHA256", nonce_length = 16 }
			local token = token_auth.generate_token("alice", "example.com", custom)
			assert.equal(6 + 16 + 1 + 44, #token)
			assert.is_true(token_auth.verify_token("alice", "example.com", token, custom))
			assert.same({ nil, "nonce_length" }, { token_auth.verify_token("alice", "example.com", token, config { time = T }) })
		end)

		it("gives a reason for every malformed token", function()
			local good = token_auth.generate_token("alice", "example.com", config { time = T, nonce = NONCE })
			local digits, signature = good:match("^(%d+) (.+)$")
			local cases = {
				{ "", "malformed" },
				{ " ", "malformed" },
				{ digits, "malformed" },
				{ digits .. " ", "bad_encoding" },
				{ "x" .. good, "malformed" },
				{ " " .. good, "malformed" },
				{ good .. " ", "malformed" },
				{ digits .. "  " .. signature, "malformed" },
				{ digits .. "\0 " .. signature, "malformed" },
				{ digits:sub(1, 39) .. "\0 " .. signature, "malformed" },
				{ ("\217\161"):rep(20) .. " " .. signature, "malformed" },
				{ digits .. " " .. signature .. "\0", "bad_encoding" },
				{ digits .. " " .. signature .. "\n", "bad_encoding" },
				{ digits .. "1 " .. signature, "nonce_length" },
				{ digits:sub(1, 8) .. " " .. signature, "nonce_length" },
				{ digits .. " " .. signature:sub(1, 43), "bad_encoding" },
				{ digits .. " " .. signature:gsub("=$", "A"), "bad_encoding" },
				{ digits .. " " .. signature:gsub("[+/]", { ["+"] = "-", ["/"] = "_" }):gsub("^.", "-"), "bad_encoding" },
				{ digits .. " " .. ("\255"):rep(44), "bad_encoding" },
				{ ("9"):rep(1024 * 1024), "malformed" },
				{ good:rep(2), "malformed" },
			}
			for _, case in ipairs(cases) do
				local ok, reason = token_auth.verify_token("alice", "example.com", case[1], config { time = T })
				assert.is_nil(ok)
				assert.equal(case[2], reason, ("token %q"):format(case[1]:sub(1, 60)))
			end
		end)

		it("takes numbers as their decimal strings, as Lua's string functions do", function()
			local token = token_auth.generate_token(42, "example.com", config { time = T })
			assert.is_true(token_auth.verify_token("42", "example.com", token, config { time = T }))
			assert.is_true(token_auth.verify_token(42, "example.com", token, config { time = T }))
			assert.same({ nil, "malformed" }, { token_auth.verify_token("42", "example.com", 12345, config { time = T }) })
		end)

		it("refuses usernames and hosts that make an ambiguous JID", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			for _, jid in ipairs { { "", "example.com" }, { "alice", "" }, { "al@ice", "example.com" },
				{ "alice", "example.com/res" }, { "al/ice", "example.com" } } do
				assert.same({ nil, "invalid_jid" }, { token_auth.verify_token(jid[1], jid[2], token, config { time = T }) })
			end
			assert.error_matches(function()
				token_auth.generate_token("a@b", "example.com", config())
			end, "username or host")
		end)

		it("raises on API misuse, naming the option and never the secret", function()
			local function raises(pattern, f)
				local ok, err = pcall(f)
				assert.is_false(ok)
				err = tostring(err)
				assert.matches(pattern, err)
				assert.is_nil(err:find(SECRET, 1, true))
				assert.is_nil(err:find(SEED, 1, true))
			end
			raises("config", function() token_auth.verify_token("a", "b", "c") end)
			raises("otp_seed: is missing", function() token_auth.verify_token("a", "b", "c", { token_secret = SECRET }) end)
			raises("token_secret: is missing", function() token_auth.verify_token("a", "b", "c", { otp_seed = SEED }) end)
			raises("token_secret", function() token_auth.verify_token("a", "b", "c", config { token_secret = "short" }) end)
			raises("token_secret", function() token_auth.verify_token("a", "b", "c", config { token_secret = {} }) end)
			raises("token_secret", function() token_auth.verify_token("a", "b", "c", config { token_secret = { SECRET, 5 } }) end)
			raises("window", function() token_auth.verify_token("a", "b", "c", config { window = 100 }) end)
			raises("window", function() token_auth.verify_token("a", "b", "c", config { window = 1.5 }) end)
			raises("period", function() token_auth.verify_token("a", "b", "c", config { period = 0 }) end)
			raises("nonce_length", function() token_auth.verify_token("a", "b", "c", config { nonce_length = 0 }) end)
			raises("time", function() token_auth.verify_token("a", "b", "c", config { time = 0 / 0 }) end)
			raises("time", function() token_auth.verify_token("a", "b", "c", config { time = math.huge }) end)
			raises("bad argument #1", function() token_auth.verify_token(nil, "b", "c", config()) end)
			raises("bad argument #3", function() token_auth.verify_token("a", "b", {}, config()) end)
			raises("nonce", function() token_auth.generate_token("a", "b", config { nonce = "123" }) end)
		end)
	end)

	describe("new_verifier()", function()
		it("accepts a token once", function()
			local verifier = assert(token_auth.new_verifier(config()))
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			assert.same({ true }, { verifier:verify("alice", "example.com", token, T) })
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", token, T) })
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", token, T + 30) })
		end)

		it("refuses a replay after a window switch (A, B, A)", function()
			local verifier = assert(token_auth.new_verifier(config()))
			local a = token_auth.generate_token("alice", "example.com", config { time = T })
			local b = token_auth.generate_token("alice", "example.com", config { time = T + 30 })
			assert.is_true(verifier:verify("alice", "example.com", a, T))
			assert.is_true(verifier:verify("alice", "example.com", b, T + 30))
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", a, T + 30) })
		end)

		it("forgets a token once no step in reach at its use is in reach", function()
			local verifier = assert(token_auth.new_verifier(config()))
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			assert.is_true(verifier:verify("alice", "example.com", token, T))
			assert.equal(1, verifier:stats().replay_entries)
			local step_start = T - T % 30
			assert.same({ nil, "replayed" }, { verifier:verify("alice", "example.com", token, step_start + 59) })
			assert.same({ nil, "otp_mismatch" }, { verifier:verify("alice", "example.com", token, step_start + 60) })
			assert.equal(1, verifier:stats().replay_entries)
			assert.same({ nil, "otp_mismatch" }, { verifier:verify("alice", "example.com", token, step_start + 90) })
			assert.equal(0, verifier:stats().replay_entries)
		end)

		it("fails closed when the replay cache is full, and recovers", function()
			local verifier = assert(token_auth.new_verifier(config { replay_capacity = 2 }))
			local function mint() return token_auth.generate_token("alice", "example.com", config { time = T }) end
			assert.is_true(verifier:verify("alice", "example.com", mint(), T))
			assert.is_true(verifier:verify("alice", "example.com", mint(), T))
			assert.same({ nil, "replay_cache_full" }, { verifier:verify("alice", "example.com", mint(), T) })
			assert.same({ replay_store = "memory", replay_entries = 2, replay_capacity = 2, replay_per_user = 100 },
				verifier:stats())
			local later = token_auth.generate_token("alice", "example.com", config { time = T + 90 })
			assert.is_true(verifier:verify("alice", "example.com", later, T + 90))
		end)

		it("uses the current time when none is given", function()
			local verifier = assert(token_auth.new_verifier(config()))
			local token = token_auth.generate_token("alice", "example.com", config())
			assert.is_true(verifier:verify("alice", "example.com", token))
			local old = token_auth.generate_token("alice", "example.com", config { time = os.time() - 3600 })
			assert.same({ nil, "otp_mismatch" }, { verifier:verify("alice", "example.com", old) })
		end)

		it("keeps one cache per verifier", function()
			local first = assert(token_auth.new_verifier(config()))
			local second = assert(token_auth.new_verifier(config()))
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			assert.is_true(first:verify("alice", "example.com", token, T))
			assert.is_true(second:verify("alice", "example.com", token, T))
		end)

		it("returns nil and a message naming the bad option", function()
			local cases = {
				{ {}, "otp_seed" },
				{ { otp_seed = SEED }, "token_secret" },
				{ config { otp_seed = "ABC!" }, "otp_seed" },
				{ config { otp_seed = 42 }, "otp_seed" },
				{ config { token_secret = "" }, "token_secret" },
				{ config { token_secret = true }, "token_secret" },
				{ config { digits = 0 }, "digits" },
				{ config { digits = 20 }, "digits" },
				{ config { period = 0 }, "period" },
				{ config { window = 100 }, "window" },
				{ config { replay_capacity = 0 }, "replay_capacity" },
				{ config { replay_capacity = "many" }, "replay_capacity" },
				{ config { algorithm = "SHA3" }, "algorithm" },
				{ config { time = T }, "not verifier options" },
				{ config { unknown = 1 }, "unknown option" },
				{ "config", "config" },
			}
			for _, case in ipairs(cases) do
				local verifier, code, option, text = token_auth.new_verifier(case[1])
				assert.is_nil(verifier)
				assert.is_string(token_auth.config_problems[code])
				local message = option .. ": " .. text
				assert.matches(case[2], message, 1, true)
				assert.is_nil(message:find(SECRET, 1, true))
				assert.is_nil(message:find(SEED, 1, true))
			end
		end)

		it("raises on a time that is not a time, or a token that is not a string", function()
			local verifier = assert(token_auth.new_verifier(config()))
			assert.error_matches(function() verifier:verify("a", "b", "c", "now") end, "time")
			assert.error_matches(function() verifier:verify("a", "b", "c", -5) end, "time")
			assert.error_matches(function() verifier:verify("a", "b", {}) end, "bad argument #4")
		end)
	end)

	describe("explain()", function()
		-- The verdict fields of a report (it also carries the effective settings).
		local function verdict(report)
			return { ok = report.ok, reason = report.reason, key_index = report.key_index,
				step_offset = report.step_offset, clock_offset = report.clock_offset, detail = report.detail }
		end

		it("says how far the generator's clock is off", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T + 3600 })
			local report = token_auth.explain("alice", "example.com", token, config { time = T })
			assert.same({ ok = false, reason = "otp_mismatch", key_index = 1, step_offset = 120, clock_offset = 3600 },
				verdict(report))
		end)

		it("names the secret that signed and finds the OTP step only for a verified signature", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T - 120 })
			local rotated = config { time = T, token_secret = { "the new secret, first in the list", SECRET } }
			assert.same({ ok = false, reason = "otp_mismatch", key_index = 2, step_offset = -4, clock_offset = -120 },
				verdict(token_auth.explain("alice", "example.com", token, rotated)))
			local forged = token_auth.explain("bob", "example.com", token, config { time = T })
			assert.same({ ok = false, reason = "bad_signature" }, verdict(forged))
			assert.equal(0, forged.searched_steps)
		end)

		it("reports success, malformed tokens with a detail code, and the effective settings", function()
			local token = token_auth.generate_token("alice", "example.com", config { time = T })
			local report = token_auth.explain("alice", "example.com", token, config { time = T })
			assert.same({ ok = true, key_index = 1, step_offset = 0, clock_offset = 0 }, verdict(report))
			assert.same({ 8, 32, 30, 1, 1 }, { report.digits, report.nonce_length, report.period, report.window,
				report.secrets })
			assert.same({ ok = false, reason = "malformed", detail = "no_space" },
				verdict(token_auth.explain("alice", "example.com", "junk", config { time = T })))
			local digits, signature = token:match("^(%d+) (.*)$")
			for _, case in ipairs({
				{ digits .. "1 " .. signature, "nonce_length", "digit_count", nil, 41 },
				{ digits .. " " .. signature:sub(1, 43), "bad_encoding", "unpadded" },
				{ digits .. " -" .. signature:sub(2), "bad_encoding", "url_safe", 42 },
				{ digits .. " " .. signature:sub(1, 40), "bad_encoding", "signature_bytes", nil, 30 },
				{ digits .. " " .. signature .. "\n", "bad_encoding", "line_break", 86 },
			}) do
				local r = token_auth.explain("alice", "example.com", case[1], config { time = T, window = 2 })
				assert.same({ case[2], case[3], case[4], case[5] }, { r.reason, r.detail, r.detail_position, r.detail_count })
				assert.equal(2, r.window)
				assert.is_string(token_auth.details[r.detail])
			end
		end)
	end)

	describe("new_seed() and new_secret()", function()
		it("return fresh base32 values of at least 160 bits", function()
			local seed, secret = token_auth.new_seed(), token_auth.new_secret()
			assert.matches("^[A-Z2-7]+$", seed)
			assert.matches("^[A-Z2-7]+$", secret)
			assert.is_true(#seed * 5 >= 160)
			assert.is_true(#secret * 5 >= 160)
			assert.not_equal(seed, token_auth.new_seed())
			assert.not_equal(secret, token_auth.new_secret())
			-- Usable as they are.
			local token = token_auth.generate_token("alice", "example.com", { otp_seed = seed, token_secret = secret })
			assert.is_true(token_auth.verify_token("alice", "example.com", token, { otp_seed = seed, token_secret = secret }))
		end)
	end)
end)
