-- How a token-auth command ends: the exit statuses of `token-auth --help`
-- (and the README), and what must run on the way out. Commands return
-- `true` or `nil, message, status`; only the dispatcher (cli.run) exits.

local exit = {}

exit.OK = 0 -- done; for check: the token verifies
exit.REJECTED = 1 -- check: the token does not verify; revoke: Prosody refused
exit.USAGE = 2 -- bad arguments
exit.CONFIG = 3 -- configuration missing, unreadable or invalid
exit.RUNTIME = 4 -- a required Lua module (token_auth) is missing
exit.STREAM = 5 -- extauth: the input stream was lost or fell out of step
exit.UNREACHABLE = 6 -- revoke: prosodyctl could not run or reach Prosody

-- A bad argument, as a command returns it (the dispatcher adds the hint).
function exit.usage(message)
	return nil, message, exit.USAGE
end

-- Functions to run before the process ends, last added first (extauth:
-- restore the terminal, close the log).
local hooks = {}

function exit.at_exit(fn)
	hooks[#hooks + 1] = fn
end

-- Runs the hooks (each protected) once; the dispatcher calls it last.
function exit.run_hooks()
	for i = #hooks, 1, -1 do
		pcall(hooks[i])
		hooks[i] = nil
	end
end

return exit
