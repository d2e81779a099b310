-- Starts a throwaway Prosody (spec/support/prosody.lua) with token
-- authentication, runs bench/logins.py against it and stops it.
--
--   lua5.4 bench/logins.lua [--quick]      (from the repository root)
--
-- The seed and secret are fresh random values, never printed: the client
-- reads them from a file in the server's temp dir (removed with it), not
-- from its command line, which `ps` shows. Prosody logs at "error" level
-- only, as a busy production server would not log every login at debug.

package.path = "./?.lua;" .. package.path;
package.cpath = "build/lua54/?.so;" .. package.cpath;

local prosody = require "spec.support.prosody";
local token_auth = require "token_auth";

local quick = arg[1] == "--quick";
local HOST = "bench.test";
local seed, secret = token_auth.new_seed(), token_auth.new_secret();

local server = assert(prosody.start({
	hosts = { HOST };
	options = {
		otp_seed = seed;
		token_secret = secret;
		token_replay_capacity = 1000000;
		allow_unencrypted_plain_auth = true; -- no TLS on 127.0.0.1
	};
	log_level = "error";
}));

local ran, out, status = pcall(function()
	local secrets_path = server.dir .. "/bench-secrets";
	local f = assert(io.open(secrets_path, "w"));
	f:write(seed, "\n", secret, "\n");
	f:close();
	local command = ("/usr/bin/python3 bench/logins.py --port %d --host %s --server-pid %d --secrets-file %s %s"):format(
		server.port, HOST, server.pid, secrets_path, quick and "--seconds 2 --runs 1" or "--seconds 5 --runs 3");
	local p = assert(io.popen(command, "r"));
	local text = p:read("*a");
	local _, _, code = p:close();
	return text, code;
end);
server:stop();
if not ran then
	error(out, 0);
end
io.write(out);
if status ~= 0 then
	io.stderr:write("bench/logins.py failed (exit status ", tostring(status), ")\n");
	os.exit(1);
end
