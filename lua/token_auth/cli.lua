-- The token-auth command's shared front: argument parsing, help, loading
-- the native module, running one subcommand module, and the one exit.
-- bin/token-auth names the subcommands.
--
-- A subcommand module returns { help = TEXT, options = { name = true },
-- command = function (args) -> true | nil, message, exit status } (see
-- exit.lua; a nil message: the command has said it all, e.g. check's
-- verdict), and may have settle_output(args), with the same results, run
-- before the options are checked. args = { command, options = { name =
-- value }, positional = { ... }, token_auth = the native module }.

local exit = require "token_auth.exit"
local native = require "token_auth.native"
local output = require "token_auth.output"

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
	prosodyctl = true, jwks = true,
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
			if not name then return nil, "unknown option " .. output.printable(a) end
			if value == nil then return nil, "unknown option --" .. output.printable(name) end
			if parsed.options[name] ~= nil then return nil, "option --" .. name .. " given twice" end
			parsed.options[name] = value
		end
		i = i + 1
	end
	return parsed
end

local function main_help()
	local token_auth = native.load()
	local names = {}
	if type(token_auth) == "table" and token_auth.options then
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

-- The native module for a command, or nil and what to do about it.
local function load_native()
	local token_auth, problem = native.load()
	if type(token_auth) == "table" and token_auth.make_stdin_raw then return token_auth end
	-- A module is built for one Lua: name the one running, and its build target.
	return nil, "cannot load the native module token_auth for " .. native.interpreter()
		.. " (install the prosody-token-auth rock, or in a checkout run `make build-" .. native.tag()
		.. "` (or run bin/token-auth with an interpreter already built, e.g. lua5.4), or put the directory of"
		.. " token_auth.so on LUA_CPATH): " .. (token_auth and "it is an older version" or output.first_line(problem))
end

-- Runs argv against `commands`; returns true, or nil, message, status, the
-- command named (for the usage hint) and whether the command settled where
-- its diagnostics go.
local function dispatch(commands, argv)
	local names = {}
	for name in pairs(commands) do names[#names + 1] = name end
	table.sort(names)
	local args, e = parse_args(argv)
	if not args then return exit.usage(e) end
	local command = args.command
	if command == "help" then
		local topic = args.positional[1]
		if topic == nil then
			io.stdout:write(main_help())
			return true
		end
		if not commands[topic] then return exit.usage("no such command: " .. output.printable(topic)) end
		io.stdout:write(require(commands[topic]).help)
		return true
	end
	if args.version then
		local token_auth = native.load()
		output.out("token-auth ", type(token_auth) == "table" and token_auth.version or "(native module not found)")
		return true
	end
	if command == nil then
		if args.help then
			io.stdout:write(main_help())
			return true
		end
		return exit.usage("a command is needed: " .. table.concat(names, ", "))
	end
	if not commands[command] then
		return exit.usage("unknown command " .. output.printable(command) .. " (commands: "
			.. table.concat(names, ", ") .. ")")
	end
	local module = require(commands[command])
	if args.help then
		io.stdout:write(module.help)
		return true
	end
	local problem
	args.token_auth, problem = load_native()
	if not args.token_auth then return nil, problem, exit.RUNTIME, command end
	-- A command may settle where its diagnostics go before any is written.
	if module.settle_output then
		local settled, message, status = module.settle_output(args)
		if not settled then return nil, message, status, command, true end
	end
	for name in pairs(args.options) do
		if not module.options[name] then
			return nil, command .. " does not take --" .. name, exit.USAGE, command
		end
	end
	local done, message, status = module.command(args)
	return done, message, status, command, module.settle_output ~= nil
end

-- Runs argv against `commands` ({ name = module name }), says why it
-- failed if it did, runs the exit hooks and exits: the one exit of the
-- command.
function cli.run(commands, argv)
	local done, message, status, command, settled = dispatch(commands, argv)
	if not done and not settled then
		-- Stopped before the command settled where its diagnostics go (a
		-- wrong option, say): one whose standard output is an answer channel
		-- (extauth) routes them now, so that not even this reaches it.
		local name = command or argv[1]
		local module = commands[name] and require(commands[name])
		if type(module) == "table" and module.route_diagnostics then module.route_diagnostics() end
	end
	if not done then
		if message then output.err_line(message) end
		if status == exit.USAGE then
			output.diagnostic("error", "Run `token-auth " .. (command and (command .. " ") or "") .. "--help` for usage.")
		end
	end
	exit.run_hooks()
	io.stdout:flush()
	os.exit(done and exit.OK or status or exit.REJECTED)
end

return cli
