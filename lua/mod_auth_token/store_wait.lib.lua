-- mod_auth_token's wait for the shared replay store (token_replay_store),
-- loaded with module:require "store_wait".
--
-- A login does not hold Prosody's one thread while Redis answers: the claim
-- is queued (behind the connect and AUTH/SELECT on a new connection), the
-- login's session (its async runner) waits, and the server goes on serving
-- everybody else until the store's socket is readable (or writable, while it
-- connects or has bytes to write) or the oldest claim is due.
--
-- Every host that names the same store with the same options shares one
-- store in the process (one connection, one retry state: the native module's
-- replay_store_id), and so one watcher of its socket and one timer: they live
-- in a table shared by every host (module:shared), keyed by that id. The
-- waiting logins themselves are the native module's to keep (begin_verify
-- takes the function that resumes each, collect hands it back with its
-- verdict); a host's logins still waiting when it unloads are refused.
--
-- Outside a runner, on a network backend other than epoll (whose watchfd
-- this relies on), or under Lua 5.1 (no yield across pcall), the check waits
-- for the reply instead, bounded by the same timeouts.

local async = require "util.async";
local now = require "util.time".now;
local pcall, pairs, tostring, type = pcall, pairs, tostring, type;

local host = module.host;

-- store id -> { verifier, hosts, watch, serial, timer, timer_at }
local waits = module.shared and module:shared("/*/auth_token/store_waits") or {};

-- mod_sasl_token calls the check inside pcall: a login can wait only where
-- a coroutine can yield across it (Lua 5.2 and later, LuaJIT; not 5.1).
local function pcall_can_yield()
	return coroutine.wrap(function()
		return pcall(coroutine.yield, true);
	end)() == true;
end

-- net.server and util.timer (which needs it) load only inside Prosody.
local net_server, timer;
local function event_loop()
	if net_server == nil then
		local loaded, server = pcall(require, "net.server");
		local epoll = loaded and server.watchfd and server.get_backend and server.get_backend() == "epoll";
		net_server = epoll and pcall_can_yield() and server or false;
		if net_server then
			timer = require "util.timer";
		end
	end
	return net_server;
end

local watch;

-- Resumes each login of { [resume] = verdict }, as collect() and abandon()
-- hand them out. Each goes on from here, in its session's runner: whatever
-- one does, the others are still resumed.
local function resume_all(verdicts)
	for resume, verdict in pairs(verdicts) do
		if type(resume) == "function" then
			local resumed, err = pcall(resume, verdict);
			if not resumed then
				module:log("error", "Resuming a login after the replay store answered: %s", tostring(err));
			end
		end
	end
end

-- Hands out the verdicts that are in. The watch is set first, from what
-- collect() says: a login resumed here may send a claim of its own, and
-- then watches with what its begin_verify() says, which is newer.
local function settle(wait)
	local verdicts, fd, due, serial, writable = wait.verifier:collect();
	watch(wait, fd, due, serial, writable);
	resume_all(verdicts);
end

-- Watch the store's current connection (for writability too while it wants
-- to write), and wake up when the oldest claim is due: `fd, due, serial,
-- writable` as the verifier's store_socket() says them (begin_verify() and
-- collect() say them too, which saves a call per login). The serial changes
-- with every new connection, even one that got the old one's descriptor
-- number.
function watch(wait, fd, due, serial, writable)
	if serial ~= wait.serial then
		if wait.watch then
			wait.watch:close();
		end
		wait.watch, wait.serial = nil, nil;
		if fd then
			local function ready()
				settle(wait);
			end
			wait.watch, wait.serial = net_server.watchfd(fd, ready, ready), serial;
		end
	end
	if wait.watch then
		wait.watch:set(true, writable == true);
	end
	if due and wait.timer and now() + due < wait.timer_at then
		-- Due sooner than the timer (verdicts already in): bring it forward.
		timer.stop(wait.timer);
		wait.timer = nil;
	elseif not due and wait.timer then
		-- Nothing waits: no wake-up for nothing.
		timer.stop(wait.timer);
		wait.timer = nil;
	end
	if due and not wait.timer then
		wait.timer_at = now() + due;
		wait.timer = timer.add_task(due + 0.001, function()
			wait.timer = nil;
			settle(wait);
		end);
	end
end

local lib = {};

-- Returns verify(username, token) -> true | nil, reason[, raised]: the
-- verifier's check, pausing the session instead of the server while the
-- shared store answers. Never raises: a failure is nil, "internal_error".
-- Hooks module.unload to refuse this host's waiting logins.
function lib.verify_function(verifier)
	local stats = verifier:stats();
	if stats.replay_store ~= "redis" then
		return function(username, token)
			local ran, ok, reason = pcall(verifier.verify, verifier, username, host, token, now());
			if not ran then
				return nil, "internal_error", ok;
			end
			return ok, reason;
		end;
	end
	local id = stats.replay_store_id;
	local wait = waits[id];
	if not wait then
		wait = { verifier = verifier, hosts = 0 };
		waits[id] = wait;
	end
	wait.hosts = wait.hosts + 1;

	-- Unloaded (or reloaded) with logins waiting: they are refused, not left
	-- hanging, since the verifier that would answer them goes.
	function module.unload() -- luacheck: ignore 122 (Prosody calls module.unload)
		resume_all(verifier:abandon(host));
		wait.hosts = wait.hosts - 1;
		if wait.hosts == 0 then
			if wait.watch then
				wait.watch:close();
			end
			if wait.timer and timer then
				timer.stop(wait.timer);
			end
			waits[id] = nil;
		end
	end

	return function(username, token)
		if not (async.ready() and event_loop()) then
			local ran, ok, reason = pcall(verifier.verify, verifier, username, host, token, now());
			if wait.timer then
				-- Logins wait in their sessions (the timer is set exactly while
				-- some do), and waiting, this may have read their verdicts:
				-- have them collected.
				watch(wait, verifier:store_socket());
			end
			if not ran then
				return nil, "internal_error", ok;
			end
			return ok, reason;
		end
		local wait_here, done = async.waiter();
		local result;
		local function resume(verdict)
			result = verdict;
			done();
		end
		local ran, ok, reason, fd, due, serial, writable = pcall(verifier.begin_verify, verifier, username, host, token,
			now(), resume);
		if not ran then
			return nil, "internal_error", ok;
		end
		if ok ~= false then
			if wait.timer then
				watch(wait, verifier:store_socket()); -- a failed send fails the claims before it too
			end
			return ok, reason;
		end
		module:log("debug", "Token for %s@%s waits for the replay store", (username:sub(1, 256):gsub("%c", "?")), host);
		watch(wait, fd, due, serial, writable);
		wait_here();
		if result == true then
			return true;
		end
		return nil, result or "internal_error";
	end;
end

return lib;
