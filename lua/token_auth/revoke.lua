-- token-auth revoke: revoke a user's tokens, or a whole host's, on the
-- running Prosody. The state lives inside Prosody (its storage, read at each
-- login), which this command cannot reach by itself: it asks Prosody through
-- `prosodyctl shell` (the admin socket, mod_admin_shell), the same
-- token:revoke / token:revoke_host commands an admin types, on 0.12 and 13.
-- --print only prints that command, for a script that runs it elsewhere.

local exit = require "token_auth.exit"
local job = require "token_auth.job"
local output = require "token_auth.output"

local revoke = {
	options = { jid = true, host = true, close = true, print = true, config = true, prosodyctl = true },
	help = [[
Usage: token-auth revoke (--jid USER@HOST | --host HOST) [--close]
                         [--config FILE] [--prosodyctl PATH] [--print]

Revoke tokens on the running Prosody: every token of USER@HOST (or, with
--host, of every user of HOST) minted until now is refused from now on, and
the FAST credentials obtained before now end. Names are prepared as servers
compare them (Alice@Example.COM is alice@example.com).
  --jid USER@HOST    revoke one user's tokens
  --host HOST        revoke every token of the host
  --close            also close the live sessions concerned
  --config FILE      Prosody's configuration file (given to prosodyctl)
  --prosodyctl PATH  the prosodyctl to run (default: prosodyctl on PATH)
  --print            print the prosodyctl command instead of running it
Prosody must have mod_admin_shell and mod_admin_socket enabled (the
default on 13; on 0.12 add "admin_shell" to modules_enabled), and the
command runs as a user that may open its admin socket (root or prosody).
Exit status: 0 revoked (or printed); 1 Prosody refused (e.g. no such user);
2 bad arguments; 6 prosodyctl could not run or reach Prosody.
]],
}

local function quote(word)
	return "'" .. word:gsub("'", "'\\''") .. "'"
end

-- The prepared target as a Lua call for the shell: token:revoke("a@h", "close");
-- or nil and a usage message.
local function shell_call(token_auth, args)
	local o = args.options
	if (o.jid == nil) == (o.host == nil) then return nil, "give one of --jid USER@HOST and --host HOST" end
	local close = o.close and ", \"close\"" or ""
	if o.jid then
		local user, host = job.jid(token_auth, o.jid)
		if not user then return nil, host end
		return ("token:revoke(%q%s)"):format(user .. "@" .. host, close)
	end
	local host, problem = token_auth.nameprep(o.host)
	if not host or o.host:find("[@/]") then
		return nil, "--host: " .. output.printable(o.host) .. " is not a valid host name (nameprep): it "
			.. (problem or "contains @ or /")
	end
	return ("token:revoke_host(%q%s)"):format(host, close)
end

function revoke.command(args)
	if #args.positional > 0 then return exit.usage("revoke takes no positional arguments") end
	for _, flag in ipairs({ "close", "print" }) do
		if args.options[flag] ~= nil and args.options[flag] ~= true then
			return exit.usage("--" .. flag .. " takes no value")
		end
	end
	local call, problem = shell_call(args.token_auth, args)
	if not call then return exit.usage(problem) end
	local words = { quote(args.options.prosodyctl or "prosodyctl") }
	if args.options.config then
		words[#words + 1] = "--config " .. quote(args.options.config)
	end
	words[#words + 1] = "shell " .. quote(call)
	local command = table.concat(words, " ")
	if args.options.print then
		output.out(command)
		return true
	end
	local pipe = io.popen(command .. " 2>&1 </dev/null", "r")
	local answer = pipe and pipe:read("*a") or ""
	if pipe then pipe:close() end
	io.stdout:write(answer)
	-- mod_admin_shell answers "OK: ..." or "Error: ..." (0.12 and 13 alike);
	-- anything else means no answer came from Prosody.
	if answer:match("^OK: ") or answer:match("\nOK: ") then return true end
	if answer:match("^Error: ") or answer:match("\nError: ") then return nil, nil, exit.REJECTED end
	return nil, "no answer from Prosody through " .. output.printable(args.options.prosodyctl or "prosodyctl", 200)
		.. " shell (is Prosody running with mod_admin_shell, and may this user open its admin socket?)",
		exit.UNREACHABLE
end

return revoke
