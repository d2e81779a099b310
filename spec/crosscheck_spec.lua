-- Tokens and TOTP codes made at run time by an independent generator
-- (Python's pyotp and hmac, following the community module's README)
-- must all verify here, and every one-byte change of them must not.

local COUNT = 300

local function unhex(text)
	return (text:gsub("%x%x", function(pair) return string.char(tonumber(pair, 16)) end))
end

local function load_vectors()
	local command = ("/usr/bin/python3 spec/support/pyotp_vectors.py %d %d"):format(COUNT, os.time())
	local pipe = assert(io.popen(command, "r"))
	local vectors = {}
	for line in pipe:lines() do
		local f = {}
		for field in line:gmatch("[^\t]+") do f[#f + 1] = field end
		vectors[#vectors + 1] = {
			config = {
				otp_seed = f[1],
				token_secret = unhex(f[2]),
				time = tonumber(f[5]),
				digits = tonumber(f[6]),
				period = tonumber(f[7]),
				algorithm = f[8],
				nonce_length = tonumber(f[9]),
			},
			user = unhex(f[3]),
			host = unhex(f[4]),
			totp = f[10],
			token = unhex(f[11]),
		}
	end
	assert(pipe:close(), "pyotp_vectors.py failed")
	return vectors
end

describe("tokens from pyotp and Python's hmac", function()
	local token_auth = require "token_auth"
	local vectors = load_vectors()

	it("were generated", function()
		assert.equal(COUNT, #vectors)
	end)

	it("have the TOTP code that totp() computes", function()
		for _, v in ipairs(vectors) do
			local c = v.config
			assert.equal(v.totp, token_auth.totp(c.otp_seed, { time = c.time, digits = c.digits,
				period = c.period, algorithm = c.algorithm }))
		end
	end)

	it("all verify, statelessly and through a verifier", function()
		for _, v in ipairs(vectors) do
			assert.same({ true }, { token_auth.verify_token(v.user, v.host, v.token, v.config) },
				("user %q at %d"):format(v.user, v.config.time))
			local c = v.config
			local verifier = assert(token_auth.new_verifier { otp_seed = c.otp_seed, token_secret = c.token_secret,
				digits = c.digits, period = c.period, algorithm = c.algorithm, nonce_length = c.nonce_length })
			assert.is_true(verifier:verify(v.user, v.host, v.token, c.time))
			assert.same({ nil, "replayed" }, { verifier:verify(v.user, v.host, v.token, c.time) })
		end
	end)

	it("are the tokens generate_token() makes from the same nonce", function()
		for _, v in ipairs(vectors) do
			local c = v.config
			local nonce = v.token:sub(c.digits + 1, c.digits + c.nonce_length)
			local mine = token_auth.generate_token(v.user, v.host, { otp_seed = c.otp_seed, token_secret = c.token_secret,
				time = c.time, digits = c.digits, period = c.period, algorithm = c.algorithm,
				nonce_length = c.nonce_length, nonce = nonce })
			assert.equal(v.token, mine)
		end
	end)

	it("are all refused after any one-byte change", function()
		local checked = 0
		for _, v in ipairs(vectors) do
			local token = v.token
			for position = 1, #token do
				local byte = token:byte(position)
				-- A neighbouring character of the same class, and one of another.
				for _, replacement in ipairs { byte % 2 == 0 and byte + 1 or byte - 1, 0x41, 0x20 } do
					if replacement ~= byte then
						local mutated = token:sub(1, position - 1) .. string.char(replacement) .. token:sub(position + 1)
						local ok, reason = token_auth.verify_token(v.user, v.host, mutated, v.config)
						assert.is_nil(ok, ("position %d of %q"):format(position, mutated))
						assert.is_string(token_auth.reasons[reason])
						checked = checked + 1
					end
				end
			end
		end
		assert.is_true(checked > COUNT * 60)
	end)

	it("are refused for a neighbouring user, another host and outside the window", function()
		for _, v in ipairs(vectors) do
			local c = v.config
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token(v.user .. "x", v.host, v.token, c) })
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token("1" .. v.user, v.host, v.token, c) })
			assert.same({ nil, "bad_signature" }, { token_auth.verify_token(v.user, "other." .. v.host, v.token, c) })
			local later = {}
			for k, value in pairs(c) do later[k] = value end
			later.time = c.time - c.time % c.period + 2 * c.period
			-- Two steps on, only a chance collision of codes (at most one in
			-- a million for 6 digits) could match.
			assert.same({ nil, "otp_mismatch" }, { token_auth.verify_token(v.user, v.host, v.token, later) })
		end
	end)
end)
