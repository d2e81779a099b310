-- Load and probes for the Redis outage and failover specs and benchmarks,
-- against a running Prosody (spec/support/prosody.lua):
--
--   local load = require "spec.support.xmpp_load"
--   load.features_latency(port, host)   -> seconds from connect to </stream:features>
--   local finish = load.start(server, hosts, { seconds = 3, rate = 20, timeline = true })
--   finish()                            -> successes, failures[, { [second] = { ok, failed } }]
--
-- start() runs spec/support/login_load.py in the background: token logins
-- (X-TOKEN) on every host at `rate` a second each, with the seed and
-- secret read from server.dir .. "/secrets" (two lines), which the caller
-- writes; finish() waits for it.

local shell = require "spec.support.shell";
local socket = require "socket";

local load = {};

function load.features_latency(port, host)
	local started = socket.gettime();
	local c = socket.tcp();
	c:settimeout(5);
	c:setoption("tcp-nodelay", true);
	assert(c:connect("127.0.0.1", port));
	assert(c:send(("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
		.. "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"):format(host)));
	c:settimeout(0);
	local buffer = "";
	local deadline = started + 5;
	while not buffer:find("</stream:features>", 1, true) do
		assert(socket.gettime() < deadline, "no stream features within 5 s");
		socket.select({ c }, nil, deadline - socket.gettime());
		local data, err, partial = c:receive(8192);
		buffer = buffer .. (data or partial or "");
		assert(err ~= "closed", "the server closed the stream");
	end
	local took = socket.gettime() - started;
	c:close();
	return took;
end

function load.start(server, hosts, options)
	local out = server.dir .. "/load.out";
	os.remove(out);
	local seconds = options.seconds or 3;
	os.execute(("/usr/bin/python3 spec/support/login_load.py --port %d --hosts %s --secrets-file %s "
		.. "--rate %s --seconds %s --tokens %d %s >%s.tmp 2>&1 && mv %s.tmp %s &"):format(
		server.port, table.concat(hosts, ","), shell.quote(server.dir .. "/secrets"), options.rate or 20, seconds,
		math.ceil((options.rate or 20) * seconds) + 10, options.timeline and "--timeline" or "",
		shell.quote(out), shell.quote(out), shell.quote(out)));
	return function()
		local deadline = shell.now() + seconds + 60;
		local text;
		repeat
			shell.sleep(0.1);
			text = shell.read_file(out);
		until text or shell.now() > deadline;
		assert(text, "the login load did not finish");
		local ok, failed = text:match("^(%d+) (%d+)");
		assert(ok, text);
		local timeline = {};
		for second, good, bad in text:gmatch("\n(%d+) (%d+) (%d+)") do
			timeline[tonumber(second)] = { tonumber(good), tonumber(bad) };
		end
		return tonumber(ok), tonumber(failed), timeline;
	end;
end

-- The p-th fraction of `values` (sorted copy), e.g. 0.5 for the median.
function load.percentile(values, p)
	local sorted = {};
	for i, v in ipairs(values) do sorted[i] = v; end
	table.sort(sorted);
	return sorted[math.max(1, math.ceil(#sorted * p))];
end

return load;
