-- The token-auth command's shared front: argument parsing, help, and
-- running one subcommand module. bin/token-auth names the subcommands.
--
-- A subcommand module returns { help = TEXT, options = { name = true },
-- run = function (args) -> exit status }. args = { command, options =
-- { name = value }, positional = { ... } }.

local util = require "token_auth.util"

local cli = {}

cli.help = [[
Usage: token-auth [--config FILE] COMMAND [OPTIONS]

Mint and check the tokens of prosody-token-auth (compatible with Prosody's
mod_auth_token), and verify them for other servers through external auth.

Commands:
  new-secret    print a fresh token_secret (256 bits from the OS CSPRNG)
  new-seed      print a fresh otp_seed (160 bits, base32, pyotp-compatible)
  mint          print a token for a JID
  check         tell whether a token verifies for a JID, and if not, why
  extauth       serve external-auth requests (Prosody mod_auth_external, ejabberd)
  revoke        revoke a user's or a host's tokens on the running Prosody
  help [COMMAND]

Run `token-auth COMMAND --help` for the options of a command.

Configuration (mint, check, extauth):
  --config FILE   a Prosody configuration file, or a snippet of one, such as
                      token_secret = "..."
                      otp_seed = "..."
                      VirtualHost "example.com"
                          token_otp_window = 2
                  Options: %s.
                  Global options are the defaults of every VirtualHost;
                  Credential("name") reads $CREDENTIALS_DIRECTORY/name
                  whole, as Prosody 13 does (a trailing newline kept);
                  anything else in the file is ignored and nothing in it can
                  run commands or open other files. Evaluation is bounded (%d
                  instructions, %d MB); errors give the file, the line and
                  the kind of error, never the text of the file.
  Environment:    TOKEN_AUTH_CONFIG  the file to read when --config is absent;
                  TOKEN_AUTH_SECRET, TOKEN_AUTH_OTP_SEED  token_secret and
                  otp_seed for when the file sets none (or there is no file).
                  Secrets are never taken from the command line.

Names: host names are nameprepped and usernames nodeprepped, as servers
compare them (VirtualHost "Mixed.Test" serves mixed.test; Alice logs in as
alice).

Exit status:
  0  done; for check: the token verifies
  1  check: the token does not verify
  2  bad arguments
  3  configuration missing, unreadable or invalid
  4  a required Lua module (token_auth) is missing
  5  extauth: the input ended inside a request, or stalled in one past
     --timeout, or could not be read: the stream is out of step
  6  revoke: prosodyctl could not run or reach Prosody
]]

-- Options that take a value, and options that are flags (true when given).
local valued = {
	config = true, jid = true, time = true, protocol = true, timeout = true, log = true, host = true,
	prosodyctl = true,
}
local flags = { syslog = true, close = true, print = true }

local function parse_args(argv)
	local parsed = { options = {}, positional = {} }
	local i = 1
	local only_positional = false
	while i <= #argv do
		local a = argv[i]
		if only_positional or a == "-" or a:sub(1, 1) ~= "-" then
			if not parsed.command and not only_positional then
				parsed.command = a
			else
				parsed.positional[#parsed.positional + 1] = a
			end
		elseif a == "--" then
			only_positional = true
			if not parsed.command then
				return nil, "a command is needed before --"
			end
		elseif a == "-h" or a == "--help" then
			parsed.help = true
		elseif a == "--version" then
			parsed.version = true
		else
			local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
			if not name then
				name = a:match("^%-%-([%w%-]+)$")
				if name and valued[name] then
					i = i + 1
					value = argv[i]
					if value == nil then return nil, "option --" .. name .. " needs a value" end
				elseif name and flags[name] then
					value = true
				end
			end
			if not name then return nil, "unknown option " .. util.printable(a) end
			if value == nil then return nil, "unknown option --" .. util.printable(name) end
			if parsed.options[name] ~= nil then return nil, "option --" .. name .. " given twice" end
			parsed.options[name] = value
		end
		i = i + 1
	end
	return parsed
end

local function main_help()
	local ok, token_auth = pcall(require, "token_auth")
	local names = {}
	if ok and type(token_auth) == "table" and token_auth.options then
		for _, option in ipairs(token_auth.options) do names[#names + 1] = option.prosody end
	end
	local config = require "token_auth.config"
	local text = cli.help:format(#names > 0 and table.concat(names, ", ") or "see the README",
		config.MAX_INSTRUCTIONS, config.MAX_MEMORY_KB / 1024)
	-- Wrap the option list to the help's width.
	return (text:gsub("Options: ([^\n]*)", function (list)
		local lines, line = {}, "Options: "
		for word in list:gmatch("%S+") do
			if #line + #word + 1 > 58 then
				lines[#lines + 1] = line
				line = ""
			end
			line = line .. (line == "" and "" or (line == "Options: " and "" or " ")) .. word
		end
		lines[#lines + 1] = line
		return table.concat(lines, "\n                  ")
	end))
end

-- Runs argv against `commands` ({ name = module name }); returns the exit status.
function cli.run(commands, argv)
	local names = {}
	for name in pairs(commands) do names[#names + 1] = name end
	table.sort(names)
	local args, e = parse_args(argv)
	if not args then util.usage_error(e) end
	local command = args.command
	if command == "help" then
		local topic = args.positional[1]
		if topic == nil then
			io.stdout:write(main_help())
			return util.EXIT_OK
		end
		if not commands[topic] then util.usage_error("no such command: " .. util.printable(topic)) end
		io.stdout:write(require(commands[topic]).help)
		return util.EXIT_OK
	end
	if args.version then
		local ok, mod = pcall(require, "token_auth")
		util.out("token-auth ", ok and type(mod) == "table" and mod.version or "(native module not found)")
		return util.EXIT_OK
	end
	if command == nil then
		if args.help then
			io.stdout:write(main_help())
			return util.EXIT_OK
		end
		util.usage_error("a command is needed: " .. table.concat(names, ", "))
	end
	if not commands[command] then
		util.usage_error("unknown command " .. util.printable(command) .. " (commands: " .. table.concat(names, ", ") .. ")")
	end
	util.command = command
	local module = require(commands[command])
	if args.help then
		io.stdout:write(module.help)
		return util.EXIT_OK
	end
	-- A command may settle where its diagnostics go before any is written.
	if module.settle_output then module.settle_output(args) end
	for name in pairs(args.options) do
		if not module.options[name] then util.usage_error(command .. " does not take --" .. name) end
	end
	return module.run(args)
end

return cli
