-- Files, commands and processes for the specs and their support code.
--
--   local shell = require "spec.support.shell"
--   shell.quote(s)                  -> s as one word for sh
--   shell.read_file(path)           -> the contents, or nil if it cannot be opened
--   shell.write_file(path, data)
--   shell.capture(command)          -> stdout, exit status (nil under Lua 5.1 and LuaJIT)
--   shell.repo_root()               -> TOKEN_AUTH_REPO, or the current directory
--   shell.temp_dir(prefix)          -> a fresh /tmp/<prefix>.XXXXXX directory
--   shell.interpreter()             -> the Lua running this ("lua5.4", or TOKEN_AUTH_LUA),
--                                      and its directory under build/ ("lua54")
--   shell.free_port()               -> a TCP port free on 127.0.0.1 just now
--   shell.port_open(port)           -> does something accept on 127.0.0.1:port?
--   shell.process_alive(pid, marker)
--   shell.now(), shell.sleep(seconds)
--
-- Works under Lua 5.4, 5.1 and LuaJIT. LuaSocket is loaded only by the
-- functions that need it.

local shell = {};

local function socket()
	return require "socket";
end

function shell.quote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'";
end

function shell.read_file(path)
	local f = io.open(path, "rb");
	if not f then
		return nil;
	end
	local data = f:read("*a");
	f:close();
	return data;
end

-- The last `n` lines of `text`, joined again: enough of a log to say why a
-- server did not come up.
function shell.last_lines(text, n)
	local lines = {};
	for line in text:gmatch("[^\n]+") do
		lines[#lines + 1] = line;
		if #lines > n then
			table.remove(lines, 1);
		end
	end
	return table.concat(lines, "\n");
end

function shell.write_file(path, data)
	local f = assert(io.open(path, "wb"));
	f:write(data);
	f:close();
end

-- Runs `command` through sh; returns all it wrote to stdout, and its exit
-- status where io.popen reports one (Lua 5.2 and later).
function shell.capture(command)
	local p = assert(io.popen(command, "r"));
	local out = p:read("*a");
	local _, _, status = p:close();
	return out, status;
end

-- The repository root: the current directory unless told otherwise.
function shell.repo_root()
	return os.getenv("TOKEN_AUTH_REPO") or (shell.capture("pwd"):gsub("\n$", ""));
end

-- A new directory /tmp/<prefix>.XXXXXX (prefix: letters, digits, - and _).
function shell.temp_dir(prefix)
	assert(prefix:match("^[%w_-]+$"), "bad temp dir prefix");
	local dir = shell.capture("mktemp -d /tmp/" .. prefix .. ".XXXXXX"):gsub("\n$", "");
	assert(dir:sub(1, #prefix + 6) == "/tmp/" .. prefix .. ".", "mktemp failed");
	return dir;
end

-- The interpreter running this code, as a command (TOKEN_AUTH_LUA overrides
-- it), and the build of the native module for it: build/<build>/token_auth.so
-- (named by token_auth.native, loaded here only when asked).
function shell.interpreter()
	local build = require "token_auth.native".tag();
	local lua = build == "luajit" and "luajit" or "lua" .. _VERSION:match("%d+%.%d+");
	return os.getenv("TOKEN_AUTH_LUA") or lua, build;
end

function shell.free_port()
	local s = assert(socket().bind("127.0.0.1", 0));
	local _, port = s:getsockname();
	s:close();
	return tonumber(port);
end

function shell.port_open(port)
	local c = socket().tcp();
	c:settimeout(0.2);
	local ok = c:connect("127.0.0.1", port);
	c:close();
	return ok ~= nil;
end

-- Waits until `server` (with :alive(), :log_tail(n), .port, .console_path)
-- listens on its port. Returns true, or nil and why not (it exited, with its
-- console output and log tail, or `timeout` seconds went by); the caller
-- cleans up after a failure.
function shell.wait_until_listening(server, name, timeout, interval)
	local deadline = shell.now() + timeout;
	while shell.now() < deadline do
		if not server:alive() then
			return nil, ("%s exited during startup:\n%s\n%s"):format(name,
				shell.read_file(server.console_path) or "", server:log_tail(30));
		end
		if shell.port_open(server.port) then
			return true;
		end
		shell.sleep(interval);
	end
	return nil, name .. " did not open its port in time:\n" .. server:log_tail(30);
end

-- Is process `pid` still there and ours? Not if /proc/PID/stat is gone or
-- shows a zombie (it has exited). Its command line reads empty while it is
-- inside execve; otherwise it must contain `marker`, or the PID was reused.
function shell.process_alive(pid, marker)
	local stat = shell.read_file("/proc/" .. pid .. "/stat");
	if not stat or stat:match("^%d+ %b() Z") then
		return false;
	end
	local cmdline = shell.read_file("/proc/" .. pid .. "/cmdline") or "";
	return cmdline == "" or cmdline:find(marker, 1, true) ~= nil;
end

-- Seconds since the epoch, with a fraction.
function shell.now()
	return socket().gettime();
end

function shell.sleep(seconds)
	socket().sleep(seconds);
end

-- The keys of a table, sorted (stable output for generated files).
function shell.sorted_keys(t)
	local keys = {};
	for k in pairs(t) do
		keys[#keys + 1] = k;
	end
	table.sort(keys);
	return keys;
end

-- Appends `flag value` to a command's argument list when value is not nil.
function shell.optional_flag(args, flag, value)
	if value ~= nil then
		args[#args + 1] = flag;
		args[#args + 1] = tostring(value);
	end
end

-- One shell command line: the program, then each argument quoted.
function shell.command_line(program, args)
	local words = { program };
	for _, a in ipairs(args) do
		words[#words + 1] = shell.quote(a);
	end
	return table.concat(words, " ");
end

return shell;
