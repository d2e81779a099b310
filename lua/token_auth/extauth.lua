-- token-auth extauth: the external-auth helper for ejabberd (2-byte length
-- frames) and Prosody's mod_auth_external (lines).
--
-- Exactness first: the server takes the next answer on the pipe as the
-- answer to the request it just wrote, so every request gets exactly one
-- answer, in order, and nothing is ever guessed. Between requests the
-- helper waits for ever; inside one it waits at most --timeout for the
-- next bytes, and if none come the stream is out of step: the helper
-- exits (status 5) without answering, and the server starts a new one.
-- A stopped helper (SIGSTOP, a paused VM) reads what arrived meanwhile
-- instead of timing out: the native reader polls once more before it
-- reports a timeout. An oversized line is read to its end and answered
-- once; an oversized frame is skipped by its length.
--
-- Speed: standard input is read in large chunks (token_auth.read_input:
-- one poll + one read for everything available), requests are cut from
-- the buffer with plain string functions, and each answer is written
-- and flushed once.
--
-- The answer channel carries answers and nothing else, whatever the host
-- wires up: Prosody's lpty puts standard input, output and error on one
-- pseudo-terminal. Diagnostics go to --log FILE, to syslog, or to standard
-- error only when it is not the channel standard output answers on (the
-- descriptors are compared); with none of those, to syslog. A terminal on
-- standard input is made raw for the helper's lifetime and restored on the
-- way out; inherited descriptors are closed, and the helper exits when its
-- parent is gone or a stop signal comes (see settle_output()).

local config = require "token_auth.config"
local exit = require "token_auth.exit"
local output = require "token_auth.output"

local byte, find, sub = string.byte, string.find, string.sub
local printable = output.printable

local extauth = {
	options = { config = true, protocol = true, timeout = true, log = true, syslog = true },
	help = [[
Usage: token-auth extauth [--protocol generic|ejabberd] [--timeout SECONDS]
                          [--log FILE | --syslog] --config FILE

Verify tokens as passwords for an XMPP server's external authentication,
reading requests on standard input and answering on standard output until
end of input. One verifier (with its replay cache) per VirtualHost of the
configuration, keyed by its nameprepped name; with no VirtualHost in it,
the global options serve any host. Request hosts are nameprepped and
usernames nodeprepped before they are looked up and verified.
Run exactly one instance per server (the replay cache lives in the process;
for ejabberd: extauth_pool_size: 1).

  --protocol generic   (default) one request per line, answer "1" or "0":
                         auth:USER:HOST:PASSWORD   1 when the token verifies
                         isuser:USER:HOST          1 for a served host
                         setpass:USER:HOST:PASS    0 (not supported)
                       anything else: 0. A line longer than 4096 bytes is
                       read to its end and answered 0, once.
  --protocol ejabberd  the same requests, each framed by a 2-byte big-endian
                       length; answers are the 2-byte results 0 or 1, framed
                       the same way. An oversized frame is skipped, answered 0.
  --timeout SECONDS    how long a request may stay incomplete with no new
                       bytes (default 5): past that the stream is out of
                       step, and the helper exits with status 5 rather than
                       answer anything. Never applies between requests.
  --config FILE        see `token-auth --help`
  --log FILE           append diagnostics to FILE (one timestamped line each)
  --syslog             send diagnostics to syslog (facility auth)
                       Without either: standard error when it is not the
                       channel standard output answers on, else syslog.

Every answer belongs to its request, and nothing but answers is written on
standard output. Each refusal is one diagnostic line with the reason code
(at most 60 at once and 1 a second after that; the rest are counted in a
"refusals not logged" line); tokens are never logged.
A terminal on standard input is made raw (no echo, no signal characters,
no CR/LF translation, no line limit) until the helper exits. Descriptors
inherited beyond standard error are closed; the helper exits (status 0)
at end of input, when the terminal hangs up, when its parent is gone, or
on SIGTERM, SIGHUP or SIGINT.
Exit status: 0 at end of input or when stopped; 2 bad arguments;
3 configuration error; 4 the native module is missing; 5 the input ended
inside a request, stalled in one past --timeout, or could not be read.
]],
}

-- Longest request looked at. A JID part is at most 1023 bytes, a token ~100.
local MAX_REQUEST = 4096
-- Bytes asked of each read: a pipe holds 64 KiB.
local CHUNK = 65536
-- Request hosts already looked up (raw name -> verifier or false), up to this many.
local MAX_CACHED_HOSTS = 1024

-- Refusal lines: a token bucket of REFUSAL_BURST lines, refilled at
-- REFUSALS_PER_SECOND; what it drops is counted and reported.
local REFUSAL_BURST = 60
local REFUSALS_PER_SECOND = 1

-- A diagnostic line, in the form output.err_line writes.
local function note(severity, ...)
	output.diagnostic(severity, output.PROGRAM .. ": extauth: " .. table.concat({ ... }))
end

-- Leaving the loop from inside a read (a signal, a lost stream): raised as
-- a stop, which extauth.command turns into its result.
local stop_mt = {}
local function stop(status, message)
	error(setmetatable({ status = status, message = message }, stop_mt), 0)
end

-- The refusal limiter's bucket; report_dropped() says what it dropped.
local refusals = { tokens = REFUSAL_BURST, at = os.time(), dropped = 0 }

local function report_dropped()
	if refusals.dropped > 0 then
		note("info", refusals.dropped, " refusals not logged (more than ", REFUSAL_BURST, " at once or ",
			REFUSALS_PER_SECOND, " a second)")
		refusals.dropped = 0
	end
end

local function log_failure(what, code, detail)
	local now = os.time()
	if now > refusals.at then
		refusals.tokens = math.min(REFUSAL_BURST, refusals.tokens + (now - refusals.at) * REFUSALS_PER_SECOND)
	end
	refusals.at = now
	if refusals.tokens < 1 then
		refusals.dropped = refusals.dropped + 1
		return
	end
	refusals.tokens = refusals.tokens - 1
	report_dropped()
	note("info", what, " failed: ", code, detail and (" (" .. detail .. ")") or "")
end

local function lost(why)
	stop(exit.STREAM, "extauth: " .. why .. ": the stream is out of step; exiting")
end

-- Where diagnostics go (see the top of this file): sets output.sink, or
-- leaves it nil for standard error. Returns true, or nil, message, status
-- (with diagnostics then going where they would without options).
local function open_log(token_auth, options)
	local misuse = options.syslog ~= nil and options.syslog ~= true and "--syslog takes no value"
		or options.log and options.syslog and "--log and --syslog exclude each other"
	if misuse then
		open_log(token_auth, {})
		return exit.usage(misuse)
	end
	local use_syslog, problem = options.syslog, nil
	if not use_syslog and not options.log then
		local same
		same, problem = token_auth.stderr_is_stdout()
		use_syslog = same ~= false
	end
	if use_syslog then
		token_auth.syslog_open()
		-- syslog names the program itself.
		local prefix = output.PROGRAM .. ": "
		output.sink = function (text, severity)
			if text:sub(1, #prefix) == prefix then text = text:sub(#prefix + 1) end
			token_auth.syslog(severity or "info", text)
		end
		if problem then
			note("warning", "cannot compare standard error with standard output (", problem, "): logging to syslog")
		end
		return true
	end
	if options.log then
		local file, e = io.open(options.log, "a")
		if not file then
			-- Nowhere chosen to say it: standard error if separate, else syslog.
			open_log(token_auth, {})
			return nil, "cannot open the --log file: " .. tostring(e), exit.CONFIG
		end
		file:setvbuf("line")
		output.sink = function (text)
			file:write(os.date("!%Y-%m-%dT%H:%M:%SZ "), text, "\n")
		end
		exit.at_exit(function () file:close() end)
	end
	return true
end

-- The input buffer: `buffer` from `pos` on is unread.
local function new_input(read_input, timeout)
	local input = { buffer = "", pos = 1 }

	-- Reads more. `inside`: part of a request is already in hand, so wait at
	-- most `timeout`. Returns true, or false at end of input; stops on a
	-- signal or when the stream is lost.
	function input.more(inside)
		local chunk, problem, message = read_input(CHUNK, inside and timeout or nil)
		if chunk then
			local rest = input.buffer
			if input.pos > 1 then rest = sub(rest, input.pos) end
			input.buffer = rest .. chunk
			input.pos = 1
			return true
		end
		if problem == "eof" then return false end
		if problem == "terminated" or problem == "parent_gone" then
			note("info", problem == "terminated" and "stopped by a signal" or "the process that started the helper is gone",
				inside and " inside a request (not answered)" or "", ": exiting")
			stop(exit.OK)
		end
		if problem == "timeout" then
			lost("a request stayed incomplete for " .. timeout .. " s with no new bytes")
		end
		lost("cannot read standard input (" .. tostring(message or problem) .. ")")
	end

	-- Bytes available from pos.
	function input.available()
		return #input.buffer - input.pos + 1
	end

	-- Drops everything read so far.
	function input.clear()
		input.buffer, input.pos = "", 1
	end

	return input
end

-- Each reader returns the next request (a string), or false, code for a
-- request answered 0 without a look, or nil at end of input.

local function generic_reader(input)
	return function ()
		while true do
			local buffer, pos = input.buffer, input.pos
			local newline = find(buffer, "\n", pos, true)
			if newline then
				local last = newline - 1
				if byte(buffer, last) == 13 and last >= pos then last = last - 1 end
				input.pos = newline + 1
				if last - pos + 1 > MAX_REQUEST then return false, "request_too_long" end
				return sub(buffer, pos, last)
			end
			local have = #buffer - pos + 1
			if have > MAX_REQUEST then
				-- Too long already: read to the end of the line, keeping nothing.
				while true do
					input.clear()
					if not input.more(true) then
						lost("the input ended inside an oversized line")
					end
					local at = find(input.buffer, "\n", 1, true)
					if at then
						input.pos = at + 1
						return false, "request_too_long"
					end
				end
			end
			if not input.more(have > 0) then
				if have > 0 then
					-- An unterminated last line is still a whole request.
					local line = sub(buffer, pos)
					input.clear()
					if byte(line, -1) == 13 then line = sub(line, 1, -2) end
					return line
				end
				return nil
			end
		end
	end
end

local function ejabberd_reader(input)
	-- Makes `n` bytes available; `inside`: the request has begun.
	local function need(n, inside)
		while input.available() < n do
			if not input.more(inside or input.available() > 0) then
				if input.available() == 0 and not inside then return false end
				lost("the input ended inside a frame")
			end
		end
		return true
	end
	return function ()
		if not need(2, false) then return nil end
		local buffer, pos = input.buffer, input.pos
		local hi, lo = byte(buffer, pos, pos + 1)
		local length = hi * 256 + lo
		input.pos = pos + 2
		if length == 0 then return false, "empty_request" end
		if length > MAX_REQUEST then
			-- Skip the frame by its length, keeping nothing.
			local left = length
			while left > 0 do
				if input.available() == 0 then need(1, true) end
				local take = math.min(left, input.available())
				input.pos = input.pos + take
				left = left - take
			end
			return false, "request_too_long"
		end
		need(length, true)
		pos = input.pos
		input.pos = pos + length
		return sub(input.buffer, pos, pos + length - 1)
	end
end

-- One verifier per served (nameprepped) host, or "*" for all; or nil,
-- message, status.
local function build_verifiers(token_auth, result)
	local verifiers = {}
	local served = 0
	if #result.host_order == 0 then
		local settings, problem = config.settings(token_auth, result, nil, true)
		if not settings then return nil, problem, exit.CONFIG end
		verifiers["*"] = assert(token_auth.new_verifier(settings))
		note("info", "no VirtualHost ", config.where(result), ": the global options serve every host")
		return verifiers
	end
	-- A host is served when it has the classic options or any JWT key option
	-- (the core's list, by Prosody name).
	local key_options = { "token_secret", "otp_seed" }
	for _, option in ipairs(token_auth.options) do
		for _, name in ipairs(token_auth.jwt_key_options or {}) do
			if option.name == name then key_options[#key_options + 1] = option.prosody end
		end
	end
	for _, host in ipairs(result.host_order) do
		local section = result.hosts[host]
		local has_token_options = false
		for _, name in ipairs(key_options) do
			if section[name] ~= nil or result.global[name] ~= nil then has_token_options = true end
		end
		if section.enabled == false then
			note("warning", "host ", host, " is disabled (enabled = false): not served")
		elseif not has_token_options then
			note("warning", "host ", host, " has no token_secret or otp_seed: not served")
		else
			local settings, problem = config.settings(token_auth, result, host, true)
			if not settings then return nil, problem, exit.CONFIG end
			verifiers[host] = assert(token_auth.new_verifier(settings))
			served = served + 1
		end
	end
	if served == 0 then
		return nil, "configuration error: no host " .. config.where(result) .. " has a token_secret and an otp_seed",
			exit.CONFIG
	end
	return verifiers
end

-- The request handler: request -> true (1) or false (0).
local function new_handler(token_auth, verifiers)
	local nameprep, nodeprep = token_auth.nameprep, token_auth.nodeprep
	local any = verifiers["*"]
	local by_raw_host, cached = {}, 0

	-- The verifier and prepared name of a request's host, or nil, code.
	local function lookup(host)
		local entry = by_raw_host[host]
		if entry == nil then
			local prepared = nameprep(host)
			local verifier = prepared and (verifiers[prepared] or any)
			entry = verifier and { verifier, prepared } or false
			if cached >= MAX_CACHED_HOSTS then
				by_raw_host, cached = {}, 0
			end
			by_raw_host[host] = entry
			cached = cached + 1
		end
		if not entry then return nil end
		return entry[1], entry[2]
	end

	-- The verifiers whose replay store is down, as last logged. An outage
	-- and its end are logged once each per host, in the core's words (the
	-- lines Prosody logs), not once per refused request.
	local store_down = {}
	local function log_store_events(verifier, host)
		for _, event in ipairs(verifier:store_events(host)) do
			note(event.level, event.text)
			store_down[verifier] = event.event == "began" or nil
		end
	end

	-- Plain lower-case ASCII names are their own nodeprep.
	local function prepare_user(user)
		if user ~= "" and not find(user, "[^a-z0-9._%-]") then return user end
		return nodeprep(user)
	end

	return function (request)
		local colon = find(request, ":", 1, true)
		local command = colon and sub(request, 1, colon - 1) or request
		if command == "auth" then
			local c2 = find(request, ":", colon + 1, true)
			local c3 = c2 and find(request, ":", c2 + 1, true)
			if not c3 then
				log_failure("auth", "bad_request", "expected auth:USER:HOST:PASSWORD")
				return false
			end
			local user, host = sub(request, colon + 1, c2 - 1), sub(request, c2 + 1, c3 - 1)
			local verifier, prepared_host = lookup(host)
			if not verifier then
				log_failure("auth for " .. printable(user .. "@" .. host, 200), "unknown_host")
				return false
			end
			local prepared_user, problem = prepare_user(user)
			if not prepared_user then
				log_failure("auth for " .. printable(user .. "@" .. host, 200), "invalid_jid",
					"the username is refused by nodeprep: it " .. problem)
				return false
			end
			local verified, code = verifier:verify(prepared_user, prepared_host, sub(request, c3 + 1))
			if code == "replay_store_unavailable" or store_down[verifier] then
				log_store_events(verifier, prepared_host)
			end
			if verified then return true end
			if code == "replay_store_unavailable" then return false end
			log_failure("auth for " .. printable(prepared_user .. "@" .. prepared_host, 200), code)
			return false
		elseif command == "isuser" then
			local c2 = find(request, ":", colon + 1, true)
			if not c2 or find(request, ":", c2 + 1, true) then
				log_failure("isuser", "bad_request", "expected isuser:USER:HOST")
				return false
			end
			local user, host = sub(request, colon + 1, c2 - 1), sub(request, c2 + 1)
			local what = "isuser for " .. printable(user .. "@" .. host, 200)
			if not lookup(host) then log_failure(what, "unknown_host") return false end
			local prepared_user, problem = prepare_user(user)
			if not prepared_user then
				log_failure(what, "invalid_jid", "the username is refused by nodeprep: it " .. problem)
				return false
			end
			return true
		elseif command == "setpass" or command == "tryregister" or command == "removeuser"
			or command == "removeuser3" then
			log_failure(command, "not_supported")
			return false
		end
		log_failure("request", "unknown_command", colon and ("command " .. printable(command, 32)) or "no command")
		return false
	end
end

-- Where diagnostics go when the command stopped before settle_output (its
-- arguments were wrong): standard error if it is a channel of its own,
-- else syslog. Without the native module, which compares them, standard
-- error: the helper cannot run at all then, and says why.
function extauth.route_diagnostics()
	local token_auth = require("token_auth.native").load()
	if type(token_auth) == "table" and token_auth.stderr_is_stdout then
		open_log(token_auth, {})
	end
end

-- Before anything else (the host may have written its first request
-- already): the stop signals and the parent watched (so that a terminal
-- made raw is always restored), the terminal made raw, inherited
-- descriptors closed, then where diagnostics go. Returns true, or nil,
-- message, status; the dispatcher runs the exit hooks (the terminal
-- restored) on every way out.
function extauth.settle_output(args)
	local token_auth = args.token_auth
	local _, watch_problem = token_auth.watch()
	local terminal, raw_problem = token_auth.make_stdin_raw()
	if terminal then exit.at_exit(function () terminal:restore() end) end
	local _, close_problem = token_auth.close_inherited()
	local logging, log_problem, status = open_log(token_auth, args.options)
	if not logging then return nil, log_problem, status end
	exit.at_exit(report_dropped)
	if raw_problem then note("warning", "cannot make the terminal on standard input raw: ", raw_problem) end
	if close_problem then note("warning", "cannot close inherited descriptors: ", close_problem) end
	if watch_problem then note("warning", "cannot watch the parent process and signals: ", watch_problem) end
	return true
end

local function serve(args)
	if #args.positional > 0 then return exit.usage("extauth takes no positional arguments") end
	local protocol = args.options.protocol or "generic"
	if protocol ~= "generic" and protocol ~= "ejabberd" then
		return exit.usage("--protocol must be generic or ejabberd")
	end
	local timeout = 5
	if args.options.timeout then
		timeout = tonumber(args.options.timeout)
		if not timeout or timeout <= 0 or timeout > 3600 then
			return exit.usage("--timeout must be a number of seconds between 0 and 3600")
		end
	end
	local token_auth = args.token_auth
	local result, e = config.get(token_auth, args.options)
	if not result then return nil, e, exit.CONFIG end
	local verifiers, problem, status = build_verifiers(token_auth, result)
	if not verifiers then return nil, problem, status end
	local handle = new_handler(token_auth, verifiers)
	local input = new_input(token_auth.read_input, timeout)
	local read_request, yes, no
	if protocol == "generic" then
		read_request, yes, no = generic_reader(input), "1\n", "0\n"
	else
		read_request, yes, no = ejabberd_reader(input), "\0\2\0\1", "\0\2\0\0"
	end
	local stdout = io.stdout
	local pcall = pcall
	while true do
		local request, code = read_request()
		if request == nil then return true end
		local answer = no
		if request then
			local ok, verdict = pcall(handle, request)
			if not ok then
				log_failure("request", "internal_error", output.first_line(verdict))
			elseif verdict then
				answer = yes
			end
		else
			log_failure("request", code)
		end
		if not (stdout:write(answer) and stdout:flush()) then
			return nil, "extauth: cannot write the answer: exiting", exit.STREAM
		end
	end
end

-- A stop passes through as it is; any other error is ours.
local function traceback(e)
	if getmetatable(e) == stop_mt then return e end
	return debug.traceback(e)
end

function extauth.command(args)
	-- An error of ours is logged where diagnostics go, never on the answer channel.
	local ok, done, message, status = xpcall(function () return serve(args) end, traceback)
	if ok then return done, message, status end
	if getmetatable(done) == stop_mt then
		if done.status == exit.OK then return true end
		return nil, done.message, done.status
	end
	return nil, "extauth: internal error: " .. output.first_line(done) .. ": exiting", exit.STREAM
end

return extauth
