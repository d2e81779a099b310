-- Credential("name") in a config read by `token-auth` (mint, check,
-- extauth --config), as Prosody 13 reads it: $CREDENTIALS_DIRECTORY/name,
-- whole and byte for byte.

local shell = require "spec.support.shell"

local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
local SECRET = "credential-spec-secret-0123456789"

local shell_quote, read_file, write_file, capture = shell.quote, shell.read_file, shell.write_file, shell.capture

local repo = shell.repo_root()
local lua, build = shell.interpreter()
local tmp_dir = shell.temp_dir("token-auth-credential-spec")

-- Runs bin/token-auth with `args`, standard input from `stdin`, and
-- CREDENTIALS_DIRECTORY set to `credentials` (unset when nil).
local function run(args, credentials, stdin)
	local words = { "env", "-u", "LUA_CPATH_5_4", "-u", "TOKEN_AUTH_CONFIG", "-u", "TOKEN_AUTH_SECRET",
		"-u", "TOKEN_AUTH_OTP_SEED", "-u", "CREDENTIALS_DIRECTORY",
		"LUA_CPATH=" .. shell_quote(repo .. "/build/" .. build .. "/?.so;;") }
	if credentials then words[#words + 1] = "CREDENTIALS_DIRECTORY=" .. shell_quote(credentials) end
	words[#words + 1] = lua
	words[#words + 1] = shell_quote(repo .. "/bin/token-auth")
	for _, a in ipairs(args) do words[#words + 1] = shell_quote(a) end
	write_file(tmp_dir .. "/stdin", stdin or "")
	local status = capture(("%s <%s >%s 2>%s; echo $?"):format(table.concat(words, " "),
		shell_quote(tmp_dir .. "/stdin"), shell_quote(tmp_dir .. "/stdout"), shell_quote(tmp_dir .. "/stderr")))
	return { status = tonumber(status:match("%d+")), stdout = read_file(tmp_dir .. "/stdout"),
		stderr = read_file(tmp_dir .. "/stderr") }
end

describe("Credential() in a config", function()
	local credentials = tmp_dir .. "/credentials"
	assert(os.execute("mkdir " .. shell_quote(credentials)))
	-- systemd-creds and `echo x >file` both leave a newline: Prosody keeps it.
	write_file(credentials .. "/token_secret", SECRET .. "\n")
	write_file(credentials .. "/otp_seed", SEED)
	local config = tmp_dir .. "/credential.cfg.lua"
	write_file(config, 'token_secret = Credential("token_secret")\notp_seed = Credential("otp_seed")\n'
		.. 'VirtualHost "a.test"\n')

	local function literal(secret)
		local path = tmp_dir .. "/literal.cfg.lua"
		write_file(path, ("token_secret = %q\notp_seed = %q\nVirtualHost \"a.test\"\n"):format(secret, SEED))
		return path
	end

	teardown(function()
		os.execute("rm -rf " .. shell_quote(tmp_dir))
	end)

	it("reads the file whole, its trailing newline included, as Prosody does", function()
		local minted = run({ "mint", "--config", config, "--jid", "alice@a.test" }, credentials)
		assert.equal(0, minted.status)
		local token = minted.stdout:gsub("\n$", "")
		assert.equal(0, run({ "check", "--config", literal(SECRET .. "\n"), "--jid", "alice@a.test" }, nil,
			token .. "\n").status)
		assert.equal(1, run({ "check", "--config", literal(SECRET), "--jid", "alice@a.test" }, nil,
			token .. "\n").status)
		assert.equal(0, run({ "check", "--config", config, "--jid", "alice@a.test" }, credentials, token .. "\n").status)
	end)

	it("serves extauth from it", function()
		local minted = run({ "mint", "--config", config, "--jid", "bob@a.test" }, credentials)
		local r = run({ "extauth", "--config", config }, credentials,
			"auth:bob:a.test:" .. minted.stdout:gsub("\n$", "") .. "\nauth:bob:a.test:junk\n")
		assert.equal(0, r.status)
		assert.equal("1\n0\n", r.stdout)
	end)

	it("reads a name starting with / as it is, and the first line with mode *l", function()
		local path = tmp_dir .. "/elsewhere.cfg.lua"
		write_file(path, ("token_secret = Credential(%q)\notp_seed = Credential(\"otp_seed\", \"*l\")\n")
			:format(credentials .. "/token_secret"))
		local minted = run({ "mint", "--config", path, "--jid", "carol@a.test" }, credentials)
		assert.equal(0, minted.status)
		assert.equal(0, run({ "check", "--config", literal(SECRET .. "\n"), "--jid", "carol@a.test" }, nil,
			minted.stdout).status)
	end)

	it("names the option and the directory when the file is missing", function()
		local r = run({ "mint", "--config", config, "--jid", "alice@a.test" }, tmp_dir .. "/nowhere")
		assert.equal(3, r.status)
		assert.equal("", r.stdout)
		assert.matches("token_secret = Credential(\"token_secret\"): cannot read " .. tmp_dir
			.. "/nowhere/token_secret: No such file or directory ($CREDENTIALS_DIRECTORY is " .. tmp_dir
			.. "/nowhere)", r.stderr, 1, true)
	end)

	it("names the option when $CREDENTIALS_DIRECTORY is not set, in every command", function()
		for _, args in ipairs({
			{ "mint", "--config", config, "--jid", "alice@a.test" },
			{ "check", "--config", config, "--jid", "alice@a.test" },
			{ "extauth", "--config", config },
		}) do
			local r = run(args, nil, "x\n")
			assert.equal(3, r.status, args[1])
			assert.equal("", r.stdout, args[1])
			assert.matches("token_secret = Credential(\"token_secret\") needs $CREDENTIALS_DIRECTORY, which is not set",
				r.stderr, 1, true)
		end
	end)

	it("reads token_jwt_secret from it: HS256 JWTs signed with the file's bytes pass check and extauth", function()
		local jwt_secret = "a JWT secret of at least thirty-two bytes, from a file"
		write_file(credentials .. "/jwt_secret", jwt_secret)
		local path = tmp_dir .. "/jwt.cfg.lua"
		write_file(path, 'token_jwt_secret = Credential("jwt_secret")\nVirtualHost "a.test"\n')
		-- HS256 by Python's standard library, independent of our code.
		local function hs256(secret, sub)
			local script = "import base64,hmac,hashlib,json,sys,time\n"
				.. "b=lambda d: base64.urlsafe_b64encode(d).rstrip(b'=').decode()\n"
				.. "h=b(json.dumps({'alg':'HS256','typ':'JWT'}).encode())\n"
				.. "p=b(json.dumps({'sub':sys.argv[2],'exp':int(time.time())+300}).encode())\n"
				.. "s=b(hmac.new(sys.argv[1].encode(),(h+'.'+p).encode(),hashlib.sha256).digest())\n"
				.. "print(h+'.'+p+'.'+s)\n"
			write_file(tmp_dir .. "/hs256.py", script)
			return (capture(("python3 %s %s %s"):format(shell_quote(tmp_dir .. "/hs256.py"), shell_quote(secret),
				shell_quote(sub))):gsub("%s+$", ""))
		end
		local token = hs256(jwt_secret, "dave")
		assert.matches("^[%w_-]+%.[%w_-]+%.[%w_-]+$", token)
		assert.equal(0, run({ "check", "--config", path, "--jid", "dave@a.test" }, credentials, token .. "\n").status)
		local forged = hs256("another secret of at least thirty-two bytes!", "dave")
		assert.equal(1, run({ "check", "--config", path, "--jid", "dave@a.test" }, credentials, forged .. "\n").status)
		local r = run({ "extauth", "--config", path }, credentials,
			"auth:dave:a.test:" .. hs256(jwt_secret, "dave") .. "\nauth:dave:a.test:" .. forged .. "\n")
		assert.equal(0, r.status)
		assert.equal("1\n0\n", r.stdout)
		local missing = run({ "check", "--config", path, "--jid", "dave@a.test" }, tmp_dir .. "/nowhere", token .. "\n")
		assert.equal(3, missing.status)
		assert.matches('token_jwt_secret = Credential("jwt_secret"): cannot read', missing.stderr, 1, true)
	end)

	it("does not mind a Credential() that no option it uses is set from", function()
		local path = tmp_dir .. "/unused.cfg.lua"
		write_file(path, ("token_secret = %q\notp_seed = %q\nldap_password = Credential(\"ldap\")\n"
			.. "VirtualHost \"a.test\"\n"):format(SECRET, SEED))
		assert.equal(0, run({ "mint", "--config", path, "--jid", "alice@a.test" }, nil).status)
	end)
end)
