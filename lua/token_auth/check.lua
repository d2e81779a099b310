-- token-auth check: whether a token verifies for a JID, and if not, why,
-- in words. The facts come from token_auth.explain(); this module only
-- words them.

local exit = require "token_auth.exit"
local job = require "token_auth.job"
local output = require "token_auth.output"

local out, printable = output.out, output.printable

local check = {
	options = { config = true, jid = true, time = true, jwks = true },
	help = [[
Usage: token-auth check --jid USER@HOST [--time T] [--config FILE] [--jwks FILE] [TOKEN | -]

Tell whether TOKEN verifies for USER@HOST and, if not, why: which part is
malformed, a wrong token_secret or a wrong user/host, or an OTP from a
clock that is off (and by how much). A JWT (token_jwt_keys or
token_jwt_secret configured) gets its reason code, header and times. Without TOKEN, or with "-", the token
is read from the first line of standard input (keeps it out of `ps`).
The token contains a space: quote it. USER is nodeprepped and HOST
nameprepped first, as a server does.
  --jid USER@HOST  the account the token should log in as
  --time T         check as at time T (see `token-auth mint --help`)
  --config FILE    see `token-auth --help`
  --jwks FILE      check JWTs against this key set (JWKS, JWK or PEM)
                   instead of token_jwt_keys. This command does not fetch
                   token_jwt_keys_url: download it (curl -fsS URL -o FILE)
                   and pass the file.
check does not consult any server's replay cache: a server accepts each
token once.
Exit status: 0 verifies; 1 does not verify; 2 bad arguments; 3 configuration error.
]],
}

local function plural(n, word)
	return n .. " " .. word .. (n == 1 and "" or "s")
end

local function duration(seconds)
	seconds = math.abs(seconds)
	local text = string.format("%d s", seconds)
	if seconds >= 3600 then
		local h = math.floor(seconds / 3600)
		local m = math.floor((seconds % 3600) / 60 + 0.5)
		if m == 60 then h, m = h + 1, 0 end
		text = text .. (m == 0 and string.format(", about %d h", h) or string.format(", about %d h %02d min", h, m))
	elseif seconds >= 120 then
		text = text .. string.format(", about %d min", math.floor(seconds / 60 + 0.5))
	end
	return text
end

local function clock_sentence(step_offset, clock_offset, period, clock_name)
	if step_offset == 0 then
		return "the token's OTP is for the current time step of " .. clock_name .. "."
	end
	clock_offset = clock_offset or step_offset * period
	local steps = plural(math.abs(step_offset), "step")
	local span = duration(clock_offset)
	local text
	if step_offset > 0 then
		text = "the token's OTP is for " .. steps .. " (" .. span .. ") later than " .. clock_name .. ":"
			.. " is the generator's clock ahead, or its timezone wrong?"
	else
		text = "the token's OTP is for " .. steps .. " (" .. span .. ") earlier than " .. clock_name .. ":"
			.. " was it minted that long ago, or is the generator's clock behind, or its timezone wrong?"
	end
	local abs = math.abs(clock_offset)
	local half_hours = math.floor(abs / 1800 + 0.5)
	if half_hours >= 1 and math.abs(abs - half_hours * 1800) <= 2 * period then
		text = text .. " A difference of about " .. duration(half_hours * 1800):match(", about (.*)$")
			.. " is typical of a generator that feeds local time where UTC is needed"
			.. " (for instance Python's datetime.now() or utcnow() with pyotp: use TOTP.now())."
	end
	return text
end

-- A JWT's report (format "jwt"), in words; returns as explain() does.
local function explain_jwt(token_auth, checked, report)
	local jid = printable(checked.user .. "@" .. checked.host, 200)
	local header = "alg " .. printable(tostring(report.alg or "?"), 20)
		.. (report.kid and (", kid " .. printable(report.kid, 80)) or "")
	local claims = report.claims or {}
	local function at(name)
		local t = claims[name]
		if type(t) ~= "number" then return nil end
		local offset = t - report.time
		return name .. " " .. os.date("!%Y-%m-%d %H:%M:%S UTC", t) .. " ("
			.. (offset >= 0 and "in " or "") .. duration(offset) .. (offset < 0 and " ago" or "") .. ")"
	end
	local times = {}
	for _, name in ipairs({ "iat", "nbf", "exp" }) do
		times[#times + 1] = at(name)
	end
	if report.ok then
		out("OK: the JWT verifies for " .. jid .. " (" .. header .. ").")
		if #times > 0 then out("Times: " .. table.concat(times, "; ") .. ".") end
		out("check does not consult any server's replay cache: by default (token_jwt_single_use) a server"
			.. " accepts each JWT only once.")
		return true
	end
	local reason = report.reason
	out("NOT VALID (" .. tostring(reason) .. "): " .. (token_auth.reasons[reason] or "unknown reason") .. ".")
	out("Header: " .. header .. "; " .. plural(report.keys, "key") .. " and " .. plural(report.secrets, "secret")
		.. " configured.")
	if #times > 0 then
		out("Times: " .. table.concat(times, "; ") .. " (leeway " .. report.leeway .. " s).")
	end
	local keys_url = checked.settings.jwt_keys_url
	if reason == "jwt_unknown_kid" and report.keys == 0 and keys_url then
		-- Never the URL's user and password, should it carry any.
		local shown = tostring(keys_url):gsub("^(%a+://)[^/@]*@", "%1")
		out("No key set is loaded here: this command does not fetch token_jwt_keys_url. Download it and pass it:"
			.. " curl -fsS " .. printable(shown, 300) .. " -o jwks.json; token-auth check --jwks jwks.json ...")
	end
	if reason == "jwt_wrong_user" or reason == "jwt_wrong_host" then
		out("The token names " .. printable(tostring(claims.sub or "?"), 200) .. ".")
	end
	return nil, nil, exit.REJECTED -- the verdict is the message, on standard output
end

-- Prints the verdict; returns true when the token verifies, else nil, message, status.
local function explain(token_auth, checked, token)
	local ok, report = pcall(token_auth.explain, checked.user, checked.host, token, checked.settings)
	if not ok then return nil, "cannot check: " .. output.first_line(report), exit.CONFIG end
	if report.format == "jwt" then
		return explain_jwt(token_auth, checked, report)
	end
	local clock_name = checked.time and "the time given by --time" or "this machine's clock"
	local jid = checked.user .. "@" .. checked.host
	local period, window, secrets = report.period, report.window, report.secrets
	local reason = report.reason
	local lines = {}
	local function add(s) lines[#lines + 1] = s end
	local searched = duration(report.searched_steps * period):gsub("^%d+ s, about ", "")

	if report.ok then
		add("OK: the token verifies for " .. printable(jid, 200)
			.. (secrets > 1 and report.key_index and (" (signed with token_secret #" .. report.key_index .. ")") or "")
			.. ".")
		if report.step_offset and report.step_offset ~= 0 then
			add("Note: " .. clock_sentence(report.step_offset, report.clock_offset, period, clock_name)
				.. " It is still within the accepted window of " .. plural(window, "step") .. ".")
		end
		add("check does not consult any server's replay cache: a server accepts each token only once.")
		for _, l in ipairs(lines) do out(l) end
		return true
	end

	if reason == "malformed" or reason == "nonce_length" or reason == "bad_encoding" then
		-- The core words its detail codes with their parameters (detail_text).
		add("NOT VALID (" .. reason .. "): " .. (report.detail_text or token_auth.reasons[reason]) .. ".")
	elseif reason == "invalid_jid" then
		add("NOT VALID (invalid_jid): the user or host of " .. printable(jid) .. " is empty or contains '@' or '/'.")
	elseif reason == "bad_signature" then
		add("NOT VALID (bad_signature): the signature does not match. Either the token was signed with a different"
			.. " token_secret than " .. (secrets > 1 and ("the " .. secrets .. " configured ones") or "the configured one")
			.. ", or for another JID than " .. printable(jid, 200) .. " (another user or host):"
			.. " the signature cannot tell which. (The OTP's time step is looked for only in a token whose"
			.. " signature verifies.)")
	elseif reason == "otp_mismatch" then
		add("NOT VALID (otp_mismatch): the signature is right (the token_secret"
			.. (secrets > 1 and report.key_index and (" #" .. report.key_index) or "")
			.. " and the JID " .. printable(jid, 200) .. " match), but the OTP"
			.. " is outside the accepted window of " .. plural(window, "step") .. " of " .. period .. " s either way.")
		if report.step_offset then
			add((clock_sentence(report.step_offset, report.clock_offset, period, clock_name):gsub("^%l", string.upper)))
		else
			add("The OTP matches no time step within " .. searched .. " of " .. clock_name .. ": the generator uses"
				.. " a different otp_seed (or other token_otp_digits, token_otp_period, token_otp_algorithm),"
				.. " or its clock is off by more than that.")
		end
	else
		local text = token_auth.reasons[reason] or "unknown reason"
		add("NOT VALID (" .. tostring(reason) .. "): " .. text .. ".")
	end
	local result = checked.config
	if result.path and #result.host_order > 0 and not result.hosts[checked.host] then
		add("(" .. checked.host .. " is not a VirtualHost in " .. result.path .. ": checked with the global options.)")
	end
	for _, l in ipairs(lines) do out(l) end
	return nil, nil, exit.REJECTED -- the verdict is the message, on standard output
end

function check.command(args)
	local token
	local positional = args.positional
	if #positional == 0 or (#positional == 1 and positional[1] == "-") then
		token = nil
	elseif #positional == 1 then
		token = positional[1]
	elseif #positional == 2 and positional[1]:match("^%d+$") then
		-- The shell split an unquoted token at its space.
		token = positional[1] .. " " .. positional[2]
	else
		return exit.usage("check takes one TOKEN (quote it: it contains a space)")
	end
	local token_auth = args.token_auth
	local checked, problem, status = job.prepare(token_auth, args.options)
	if not checked then return nil, problem, status end
	local jwks = args.options.jwks
	if jwks then
		-- The core reads the file; a path it cannot open is the user's typo,
		-- said here in terms of --jwks rather than of token_jwt_keys.
		local file, why = io.open(jwks, "rb")
		if not file then return exit.usage("--jwks: " .. output.first_line(why)) end
		file:close()
		checked.settings.jwt_keys = jwks
	end
	if token == nil then
		token = io.stdin:read("*l")
		if not token then return exit.usage("no token given (neither as an argument nor on standard input)") end
		token = token:gsub("\r$", "")
	end
	if checked.user ~= checked.raw_user or checked.host ~= checked.raw_host then
		output.err_line("note: a login as ", printable(checked.raw_user .. "@" .. checked.raw_host, 200),
			" reaches the server as ", printable(checked.user .. "@" .. checked.host, 200),
			" (nodeprep, nameprep): checking that")
	end
	return explain(token_auth, checked, token)
end

return check
