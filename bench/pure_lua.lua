-- The pure-Lua way, for `make bench` only (never shipped, never used by the
-- plugins): what the community mod_auth_token does per login, written here
-- from its description in /work/shared/design/reference.md, not from its code.
--
-- Per call: the base32 otp_seed is decoded in Lua (the community module builds
-- its TOTP object from the seed on every check), the TOTP is computed over
-- luaossl's HMAC-SHA1 (Debian's lua-luaossl, `require "openssl.hmac"`), the
-- signature is HMAC-SHA256 over luaossl, base64-decoded, and compared with `==`.
--
-- Where it could go either way, this takes the faster road, so that ratios
-- against it are not flattered: steps are tried nearest first (current, one
-- back, one ahead), the base64 decoder is Prosody's C one (util.encodings)
-- when it loads (Lua 5.4), and there is no replay check at all.
-- Runs unchanged on Lua 5.4 and LuaJIT (no bit operators).

local hmac = require "openssl.hmac";

local byte, char, format, sub = string.byte, string.char, string.format, string.sub;
local floor = math.floor;

local pure_lua = {};

local base32_values = {};
for i = 1, 32 do
	local letter = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"):byte(i);
	base32_values[letter] = i - 1;
	if letter >= 65 and letter <= 90 then
		base32_values[letter + 32] = i - 1; -- lower case
	end
end
local equals_sign = byte("=");

-- RFC 4648 base32, '=' ignored anywhere, anything else refused.
local function base32_decode(text)
	local out, n = {}, 0;
	local buffer, bits = 0, 0;
	for i = 1, #text do
		local c = byte(text, i);
		if c ~= equals_sign then
			local value = base32_values[c];
			if not value then
				return nil;
			end
			buffer = buffer * 32 + value;
			bits = bits + 5;
			if bits >= 8 then
				bits = bits - 8;
				local scale = 2 ^ bits;
				local b = floor(buffer / scale);
				buffer = buffer - b * scale;
				n = n + 1;
				out[n] = char(b);
			end
		end
	end
	return table.concat(out);
end

-- An 8-byte big-endian counter.
local counter_bytes;
if string.pack then
	local pack = string.pack;
	function counter_bytes(counter)
		return pack(">I8", counter);
	end
else
	function counter_bytes(counter)
		local bytes = {};
		for i = 8, 1, -1 do
			local rest = floor(counter / 256);
			bytes[i] = char(counter - rest * 256);
			counter = rest;
		end
		return table.concat(bytes);
	end
end

-- RFC 4226 HOTP, 8 digits.
local function hotp(key, counter)
	local digest = hmac.new(key, "sha1"):final(counter_bytes(counter));
	local offset = byte(digest, 20) % 16;
	local b1, b2, b3, b4 = byte(digest, offset + 1, offset + 4);
	local code = ((b1 % 128) * 16777216 + b2 * 65536 + b3 * 256 + b4) % 100000000;
	return format("%08d", code);
end

local base64_decode, base64_decoder;
do
	local ok, encodings = pcall(require, "util.encodings");
	if ok and type(encodings) == "table" and encodings.base64 then
		base64_decode = encodings.base64.decode;
		base64_decoder = "Prosody's util.encodings (C)";
	else
		local values = {};
		local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		for i = 1, 64 do
			values[byte(alphabet, i)] = i - 1;
		end
		function base64_decode(text)
			local out, n = {}, 0;
			for i = 1, #text - 3, 4 do
				local a, b, c, d = byte(text, i, i + 3);
				local va, vb, vc, vd = values[a], values[b], values[c], values[d];
				if not va or not vb then
					return nil;
				end
				local word = va * 262144 + vb * 4096 + (vc or 0) * 64 + (vd or 0);
				local x = floor(word / 65536);
				local y = floor(word / 256) % 256;
				n = n + 1;
				if not vc then
					out[n] = char(x);
				elseif not vd then
					out[n] = char(x, y);
				else
					out[n] = char(x, y, word % 256);
				end
			end
			return table.concat(out);
		end
		base64_decoder = "Lua (table-driven)";
	end
end
pure_lua.base64_decoder = base64_decoder;

-- A checker for one configuration. verify(username, host, token, now) -> true | nil, reason
function pure_lua.new(otp_seed, token_secret)
	return function(username, host, token, now)
		local digits, signature = token:match("^(%d+) (.+)$");
		if not digits then
			return nil, "malformed";
		end
		local otp, nonce = sub(digits, 1, 8), sub(digits, 9);
		local key = base32_decode(otp_seed);
		if not key then
			return nil, "bad seed";
		end
		local step = floor(now / 30);
		if hotp(key, step) ~= otp and hotp(key, step - 1) ~= otp and hotp(key, step + 1) ~= otp then
			return nil, "otp_mismatch";
		end
		local mac = hmac.new(token_secret, "sha256"):final(otp .. nonce .. username .. "@" .. host);
		if mac ~= base64_decode(signature) then
			return nil, "bad_signature";
		end
		return true;
	end;
end

return pure_lua;
