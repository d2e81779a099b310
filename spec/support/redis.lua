-- Start and stop a throwaway redis-server for the specs and benchmarks.
--
--   local redis = require "spec.support.redis"
--   local server = assert(redis.start({ password = "...", unix_socket = true, port = P }))
--   server.port, server.pid, server.dir, server.url, server.socket_path
--   server:cli("DBSIZE")       -> redis-cli's output (no trailing newline)
--   server:token_keys([db])    -> the replay keys of tokens (not the users' sets) in db (0)
--   server:pause(), server:resume()   (SIGSTOP / SIGCONT: a Redis that hangs)
--   server:stop()              -> SIGTERM, then SIGKILL; removes the temp dir
--   redis.version()            -> "7.0.15" (what `redis-server --version` says)
--   redis.make_certs(dir)      -> { ca, ca_key, server, server_key, client, client_key, other_ca }
--                                 (PEM files made with openssl: a CA, a server certificate for
--                                 IP 127.0.0.1 and localhost, a client certificate, another CA)
--   redis.start({ tls = certs, tls_auth_clients = "no"|"optional"|"yes" })
--                              -> TLS only, on server.port; server.url is rediss://
--   redis.start({ replicaof = master })  -> a replica of that server (same password)
--   redis.start_sentinel({ master = server, name = "mymaster", quorum = 2,
--                          down_after_ms = 1000 })  -> a redis-sentinel watching it
--   server:kill()              -> SIGKILL (a crash), without waiting
--
-- Debian's redis-server, started as the tests' own process on a free
-- 127.0.0.1 port (or the port given, to restart "the same" Redis), with no
-- persistence (--save "" --appendonly no) and its files in a fresh temp dir.
-- stop() signals only the PID this module started, after checking that it
-- is still that redis-server. Works under Lua 5.4, 5.1 and LuaJIT.

local shell = require "spec.support.shell";

local quote, run, sleep = shell.quote, shell.capture, shell.sleep;

local redis = {};

local server_mt = {};
server_mt.__index = server_mt;

function redis.version()
	local out = run("redis-server --version 2>/dev/null");
	return out:match("v=(%d+%.%d+%.%d+)");
end

function redis.available()
	return redis.version() ~= nil;
end

-- spec: { port = P, password = "...", unix_socket = true, timeout = 10, tls = certs,
--         tls_auth_clients = "no", replicaof = server }
-- Returns the server, or nil and why it did not come up (nothing is left
-- running then).
function redis.start(spec)
	spec = spec or {};
	local dir = shell.temp_dir("token-auth-redis");
	local server = setmetatable({
		dir = dir;
		port = spec.port or shell.free_port();
		password = spec.password;
		log_path = dir .. "/redis.log";
		console_path = dir .. "/console.log";
	}, server_mt);
	local args = {
		"--port", tostring(server.port), "--bind", "127.0.0.1", "--save", "''", "--appendonly", "no",
		"--dir", quote(dir), "--logfile", quote(server.log_path), "--daemonize", "no",
		-- A replica's first sync starts at once, not after the default 5 s.
		"--repl-diskless-sync-delay", "0",
	};
	if spec.password then
		args[#args + 1] = "--requirepass " .. quote(spec.password);
		-- A replica (or a master demoted by a failover) logs in to its master.
		args[#args + 1] = "--masterauth " .. quote(spec.password);
	end
	if spec.replicaof then
		args[#args + 1] = "--replicaof 127.0.0.1 " .. spec.replicaof.port;
	end
	if spec.tls then
		-- TLS only: the plain port is closed.
		server.tls = spec.tls;
		args[2] = "0";
		for _, a in ipairs({ "--tls-port", tostring(server.port), "--tls-cert-file", quote(spec.tls.server),
			"--tls-key-file", quote(spec.tls.server_key), "--tls-ca-cert-file", quote(spec.tls.ca),
			"--tls-auth-clients", spec.tls_auth_clients or "no" }) do
			args[#args + 1] = a;
		end
	end
	if spec.unix_socket then
		server.socket_path = dir .. "/redis.sock";
		args[#args + 1] = "--unixsocket " .. quote(server.socket_path) .. " --unixsocketperm 700";
	end
	local pid = run(("exec redis-server %s >%s 2>&1 </dev/null & echo $!"):format(
		table.concat(args, " "), quote(server.console_path)));
	server.pid = tonumber(pid:match("%d+"));
	if not server.pid then
		os.execute("rm -rf " .. quote(dir));
		return nil, "could not start redis-server";
	end
	local listening, why = shell.wait_until_listening(server, "redis-server", spec.timeout or 10, 0.02);
	if not listening then
		server:stop();
		return nil, why;
	end
	if server.socket_path then
		-- The socket is made just after the TCP port opens.
		local deadline = shell.now() + 5;
		-- os.execute gives true under 5.2+, 0 under 5.1 and LuaJIT.
		local function exists()
			local r = os.execute("test -S " .. quote(server.socket_path));
			return r == true or r == 0;
		end
		while not exists() and shell.now() < deadline do
			sleep(0.02);
		end
	end
	local auth = spec.password and (":" .. spec.password .. "@") or "";
	server.url = ("%s://%s127.0.0.1:%d"):format(spec.tls and "rediss" or "redis", auth, server.port);
	return server;
end

-- Certificates for a TLS Redis, made with openssl in `dir` (EC P-256, valid
-- two days): a CA, a server certificate it signed for IP 127.0.0.1 and
-- localhost, a client certificate it signed, and a second CA that signed
-- nothing here. Returns their paths, or nil and openssl's output.
function redis.make_certs(dir)
	local certs = {};
	for _, name in ipairs({ "ca", "server", "client", "other_ca" }) do
		certs[name] = dir .. "/" .. name .. ".pem";
		certs[name .. "_key"] = dir .. "/" .. name .. ".key";
	end
	shell.write_file(dir .. "/server.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
		.. "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
	shell.write_file(dir .. "/client.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
	local key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
	local ca_ext = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
	local steps = {};
	for _, ca in ipairs({ "ca", "other_ca" }) do
		steps[#steps + 1] = ("openssl req -x509 %s -keyout %s -out %s -days 2 -subj /CN=token-auth-test-%s %s"):format(
			key, quote(certs[ca .. "_key"]), quote(certs[ca]), ca, ca_ext);
	end
	for _, leaf in ipairs({ "server", "client" }) do
		local csr = dir .. "/" .. leaf .. ".csr";
		steps[#steps + 1] = ("openssl req %s -keyout %s -out %s -subj /CN=%s"):format(
			key, quote(certs[leaf .. "_key"]), quote(csr), leaf == "server" and "127.0.0.1" or "token-auth-client");
		steps[#steps + 1] = ("openssl x509 -req -in %s -CA %s -CAkey %s -CAcreateserial -out %s -days 2 -extfile %s"):format(
			quote(csr), quote(certs.ca), quote(certs.ca_key), quote(certs[leaf]), quote(dir .. "/" .. leaf .. ".ext"));
	end
	local out = run("(set -e; " .. table.concat(steps, "; ") .. "; echo made) 2>&1");
	if not out:match("made\n?$") then
		return nil, out;
	end
	return certs;
end

function server_mt:alive()
	return shell.process_alive(self.pid, self.marker or "redis-server");
end

-- A redis-sentinel on a free 127.0.0.1 port watching spec.master (a server
-- from redis.start) as spec.name; returns it (port, pid, dir, cli, stop) or
-- nil and why. Its config file is its own (Sentinel rewrites it). With
-- spec.password it asks its clients for that password; with spec.tls
-- (certificates from redis.make_certs) it takes TLS only, and still speaks
-- plain Redis to the master.
function redis.start_sentinel(spec)
	local dir = shell.temp_dir("token-auth-sentinel");
	local server = setmetatable({
		dir = dir;
		port = shell.free_port();
		password = spec.password;
		tls = spec.tls;
		log_path = dir .. "/sentinel.log";
		console_path = dir .. "/console.log";
		marker = "redis-sentinel";
	}, server_mt);
	local name = spec.name or "mymaster";
	local lines = {
		spec.tls and "port 0" or "port " .. server.port,
		"bind 127.0.0.1",
		"daemonize no",
		"dir " .. dir,
		"logfile " .. server.log_path,
		("sentinel monitor %s 127.0.0.1 %d %d"):format(name, spec.master.port, spec.quorum or 2),
		("sentinel down-after-milliseconds %s %d"):format(name, spec.down_after_ms or 1000),
		("sentinel failover-timeout %s %d"):format(name, spec.failover_timeout_ms or 10000),
		("sentinel parallel-syncs %s 1"):format(name),
	};
	if spec.master.password then
		lines[#lines + 1] = ("sentinel auth-pass %s %s"):format(name, spec.master.password);
	end
	if spec.password then
		lines[#lines + 1] = "requirepass " .. spec.password;
	end
	if spec.tls then
		for _, line in ipairs({ "tls-port " .. server.port, "tls-cert-file " .. spec.tls.server,
			"tls-key-file " .. spec.tls.server_key, "tls-ca-cert-file " .. spec.tls.ca, "tls-auth-clients no",
			"tls-replication no" }) do
			lines[#lines + 1] = line;
		end
	end
	shell.write_file(dir .. "/sentinel.conf", table.concat(lines, "\n") .. "\n");
	local pid = run(("exec redis-sentinel %s >%s 2>&1 </dev/null & echo $!"):format(
		quote(dir .. "/sentinel.conf"), quote(server.console_path)));
	server.pid = tonumber(pid:match("%d+"));
	if not server.pid then
		os.execute("rm -rf " .. quote(dir));
		return nil, "could not start redis-sentinel";
	end
	local listening, why = shell.wait_until_listening(server, "redis-sentinel", spec.timeout or 10, 0.02);
	if not listening then
		server:stop();
		return nil, why;
	end
	return server;
end

function server_mt:kill()
	os.execute("kill -KILL " .. self.pid .. " 2>/dev/null");
end

function server_mt:log_tail(n)
	return shell.last_lines(shell.read_file(self.log_path) or "", n);
end

-- Runs one redis-cli command against this server; returns its output.
function server_mt:cli(...)
	local words = { "redis-cli", "-h", "127.0.0.1", "-p", tostring(self.port) };
	if self.password then
		words[#words + 1] = "--no-auth-warning -a " .. quote(self.password);
	end
	if self.tls then
		words[#words + 1] = ("--tls --cacert %s --cert %s --key %s"):format(
			quote(self.tls.ca), quote(self.tls.client), quote(self.tls.client_key));
	end
	for _, a in ipairs({ ... }) do
		words[#words + 1] = quote(a);
	end
	return (run(table.concat(words, " ") .. " 2>&1"):gsub("\n$", ""));
end

-- The token keys (token_auth:<host>:<hash>), not the users' sets
-- (token_auth:<host>:user:<hash>), in database `db`; as a list.
function server_mt:token_keys(db)
	local keys = {};
	for key in self:cli("-n", tostring(db or 0), "KEYS", "token_auth:*"):gmatch("[^\n]+") do
		if not key:find(":user:", 1, true) then
			keys[#keys + 1] = key;
		end
	end
	return keys;
end

function server_mt:pause()
	os.execute("kill -STOP " .. self.pid);
end

function server_mt:resume()
	os.execute("kill -CONT " .. self.pid);
end

function server_mt:stop(timeout)
	if self.stopped then
		return;
	end
	self.stopped = true;
	if self:alive() then
		os.execute("kill -CONT " .. self.pid .. " 2>/dev/null; kill -TERM " .. self.pid .. " 2>/dev/null");
		local deadline = shell.now() + (timeout or 10);
		while self:alive() and shell.now() < deadline do
			sleep(0.02);
		end
		if self:alive() then
			os.execute("kill -KILL " .. self.pid .. " 2>/dev/null");
			while self:alive() do
				sleep(0.02);
			end
		end
	end
	if not os.getenv("KEEP_REDIS_DIR") then
		os.execute("rm -rf " .. quote(self.dir));
	end
end

return redis;
