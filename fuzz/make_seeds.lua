-- Writes the committed seed corpus: valid tokens minted by the native
-- module, the malformed matrix, and sample configurations and replay-cache
-- runs, each in the input layout of its fuzz target (see fuzz_targets/).
-- Run from the repository root after `make build-lua54`:
--   lua5.4 fuzz/make_seeds.lua
-- The values match the fixture in fuzz_targets/verify_token.rs.
package.cpath = "build/lua54/?.so;" .. package.cpath
local token_auth = require "token_auth"

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7"
local OLD_SECRET = "an older secret, still accepted"
local T = 1700000010 -- the start of a 30 s step
local SIG = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
local DIGITS40 = "1234567801234567890123456789012345678901"

local function mint(username, secret, nonce, time)
	return token_auth.generate_token(username, "example.com",
		{ otp_seed = SEED, token_secret = secret, nonce = nonce, time = time })
end

local function write(target, name, data)
	os.execute("mkdir -p fuzz/corpus/" .. target)
	local file = assert(io.open("fuzz/corpus/" .. target .. "/" .. name, "wb"))
	file:write(data)
	file:close()
end

local valid = mint("alice", SECRET, "01234567890123456789012345678901", T)

-- Tokens that parse_token and verify_token both start from.
local tokens = {
	{ "valid", valid },
	{ "empty", "" },
	{ "space", " " },
	{ "digits-only", DIGITS40 },
	{ "no-signature", DIGITS40 .. " " },
	{ "letter-first", "x" .. DIGITS40 .. " " .. SIG },
	{ "two-spaces", DIGITS40 .. "  " .. SIG },
	{ "leading-space", " " .. DIGITS40 .. " " .. SIG },
	{ "letter-in-digits", ("1"):rep(39) .. "a " .. SIG },
	{ "arabic-indic-digits", ("\217\161"):rep(20) .. " " .. SIG },
	{ "trailing-space", valid .. " " },
	{ "trailing-newline", valid .. "\n" },
	{ "nonce-too-long", DIGITS40 .. "1 " .. SIG },
	{ "otp-only", "12345678 " .. SIG },
	{ "nonce-too-short", DIGITS40:sub(1, 39) .. " " .. SIG },
	{ "signature-short", DIGITS40 .. " " .. SIG:sub(1, 43) },
	{ "padding-replaced", DIGITS40 .. " " .. SIG:gsub("=", "A") },
	{ "url-safe-underscore", DIGITS40 .. " _" .. SIG:sub(2) },
	{ "url-safe-dash", DIGITS40 .. " -" .. SIG:sub(2) },
	{ "padding-misplaced", DIGITS40 .. " " .. SIG:sub(1, 42) .. "=" },
	{ "dot-in-signature", DIGITS40 .. " " .. SIG:sub(1, 42) .. ".=" },
	{ "bangs", DIGITS40 .. " !!!!" },
	{ "lenient-trailing-bits", DIGITS40 .. " " .. SIG:gsub("8=", "9=") },
	{ "nul-in-digits", valid:sub(1, 3) .. "\0" .. valid:sub(5) },
	{ "high-byte-in-digits", valid:sub(1, 4) .. "\255" .. valid:sub(6) },
	{ "high-byte-in-signature", valid:sub(1, 44) .. "\255" .. valid:sub(46) },
	{ "long", ("1"):rep(600) },
}

for _, case in ipairs(tokens) do
	-- 2 and 24 select 8 OTP digits and a 32-digit nonce.
	write("parse_token", case[1], "\2\24" .. case[2])
end
write("parse_token", "valid-6-digits-8-nonce", "\0\0" .. token_auth.generate_token("alice", "example.com",
	{ otp_seed = SEED, token_secret = SECRET, digits = 6, nonce_length = 8, time = T }))

local function jid_case(username, host, offset, token)
	return string.pack("<BBi2", #username, #host, offset) .. username .. host .. token
end

for _, case in ipairs(tokens) do
	write("verify_token", case[1], jid_case("alice", "example.com", 0, case[2]))
end
write("verify_token", "valid-explained", string.pack("<BBi2", 0x80 | 5, 11, 0) .. "alice" .. "example.com" .. valid)
write("verify_token", "valid-window-start", jid_case("alice", "example.com", -30, valid))
write("verify_token", "valid-window-end", jid_case("alice", "example.com", 59, valid))
write("verify_token", "expired", jid_case("alice", "example.com", 60, valid))
write("verify_token", "early", jid_case("alice", "example.com", -31, valid))
write("verify_token", "next-step", jid_case("alice", "example.com", 30,
	mint("alice", SECRET, "11111111111111111111111111111111", T + 30)))
write("verify_token", "old-secret", jid_case("bob", "example.com", 0,
	mint("bob", OLD_SECRET, "22222222222222222222222222222222", T)))
local numeric = mint("42", SECRET, "00000000000000000000000000000001", T)
write("verify_token", "numeric-user", jid_case("42", "example.com", 0, numeric))
write("verify_token", "forged-142", jid_case("142", "example.com", 0, numeric:sub(1, 39) .. " " .. numeric:sub(42)))
write("verify_token", "other-user", jid_case("bob", "example.com", 0, valid))
write("verify_token", "other-host", jid_case("alice", "example.org", 0, valid))
write("verify_token", "at-in-user", jid_case("alice@example.com", "example.com", 0, valid))
write("verify_token", "slash-in-host", jid_case("alice", "example.com/res", 0, valid))
write("verify_token", "empty-user", jid_case("", "example.com", 0, valid))

local configs = {
	{ "defaults", SEED .. "\n" .. SECRET },
	{ "everything", SEED .. "\n" .. SECRET .. "\t" .. OLD_SECRET .. "\n6\n60\nsha256\n0\n8\n1" },
	{ "maxima", SEED .. "\n" .. SECRET .. "\n10\n3600\nSHA512\n10\n128\n100000000" },
	{ "padded-lower-seed", SEED:lower():sub(1, 16) .. "=\n" .. SECRET },
	{ "no-secret", SEED },
	{ "empty-seed", "\n" .. SECRET },
	{ "seed-not-base32", "not base32!\n" .. SECRET },
	{ "seed-too-short", "JBSWY3DP\n" .. SECRET },
	{ "secret-too-short", SEED .. "\nshort" },
	{ "nine-secrets", SEED .. "\n" .. (SECRET .. "\t"):rep(8) .. SECRET },
	{ "digits-0", SEED .. "\n" .. SECRET .. "\n0" },
	{ "digits-20", SEED .. "\n" .. SECRET .. "\n20" },
	{ "period-0", SEED .. "\n" .. SECRET .. "\n\n0" },
	{ "algorithm-md5", SEED .. "\n" .. SECRET .. "\n\n\nMD5" },
	{ "window-100", SEED .. "\n" .. SECRET .. "\n\n\n\n100" },
	{ "nonce-length-0", SEED .. "\n" .. SECRET .. "\n\n\n\n\n0" },
	{ "capacity-0", SEED .. "\n" .. SECRET .. "\n\n\n\n\n\n0" },
	{ "capacity-min-i64", SEED .. "\n" .. SECRET .. "\n\n\n\n\n\n-9223372036854775808" },
}
for _, case in ipairs(configs) do
	write("options", case[1], case[2])
end

-- Capacity byte, then (fingerprint, time step, expiry delta, kind) quads.
local function ops(capacity, list)
	local out = { string.char(capacity) }
	for _, op in ipairs(list) do
		out[#out + 1] = string.char(table.unpack(op))
	end
	return table.concat(out)
end
write("replay_cache", "insert-replay-expire", ops(2, {
	{ 1, 0, 90, 0 }, { 2, 0, 60, 0 }, { 1, 10, 90, 0 }, { 3, 0, 90, 0 }, { 3, 61, 90, 0 }, { 0, 30, 0, 1 },
}))
write("replay_cache", "flood", ops(3, {
	{ 1, 1, 60, 0 }, { 2, 1, 60, 0 }, { 3, 1, 60, 0 }, { 4, 1, 60, 0 }, { 5, 1, 60, 0 }, { 6, 60, 60, 0 },
}))
write("replay_cache", "time-goes-back", ops(4, {
	{ 1, 0, 30, 0 }, { 2, 100, 30, 2 }, { 1, 0, 30, 0 }, { 3, 200, 30, 0 }, { 1, 0, 30, 0 },
}))
write("replay_cache", "colliding-hashes", ops(8, {
	{ 0, 0, 30, 0 }, { 4, 0, 60, 0 }, { 8, 0, 90, 0 }, { 4, 0, 60, 0 }, { 0, 31, 0, 1 }, { 4, 0, 60, 0 },
}))
