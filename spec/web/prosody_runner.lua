-- A throwaway Prosody serving WebSocket and BOSH for a web client, driven over
-- stdin and stdout: the browser test (spec/web/converse.test.mjs) and
-- `make demo-web` (scripts/demo-web) start it, and restart it under a
-- connected browser.
--
--   WEB_DOMAIN=web.test WEB_HTTP_PORT=5280 OTP_SEED=... TOKEN_SECRET=... \
--     [WEB_LOG_LEVEL=info] [WEB_LOG_COPY=/path] lua5.4 spec/web/prosody_runner.lua
--
-- Prints one JSON line once Prosody listens: {"http_port":..,"c2s_port":..,"log":"<path>"}.
-- Then reads commands, one a line:
--   restart   stop Prosody, start it again on the same HTTP port; prints the JSON line again
--   (EOF)     stop Prosody and exit
-- Before each stop it appends Prosody's log to WEB_LOG_COPY (the harness
-- removes the server's directory), so that the caller can read every log.
-- The harness is spec/support/prosody.lua; Prosody runs from its own temp dir.

-- The repository: TOKEN_AUTH_REPO, or this script's, or the current directory
-- (Prosody runs from a temp dir, so its plugin path must be absolute).
local script_dir = (arg and arg[0] or ""):match("^(/.*)/spec/web/[^/]*$");
package.path = (script_dir or ".") .. "/?.lua;" .. package.path;

local prosody = require "spec.support.prosody";
local repo = os.getenv("TOKEN_AUTH_REPO") or script_dir or prosody.repo_root();

local function need(name)
	local value = os.getenv(name);
	if not value or value == "" then
		io.stderr:write("prosody_runner: ", name, " is not set\n");
		os.exit(2);
	end
	return value;
end

local domain = need("WEB_DOMAIN");
local http_port = math.tointeger(tonumber(need("WEB_HTTP_PORT")));
local log_copy = os.getenv("WEB_LOG_COPY");

local spec = {
	repo = repo;
	hosts = { domain };
	log_level = os.getenv("WEB_LOG_LEVEL") or "info";
	options = {
		otp_seed = need("OTP_SEED");
		token_secret = need("TOKEN_SECRET");
		-- These replace the harness's own lines (later assignments win):
		-- a web client needs the HTTP transports and the usual c2s services.
		modules_enabled = { "saslauth"; "sasl_token"; "websocket"; "bosh"; "roster"; "disco"; "ping" };
		http_ports = { http_port };
		http_interfaces = { "127.0.0.1" };
		-- No TLS on 127.0.0.1 here; in production Prosody sits behind HTTPS and
		-- these stay unset (Prosody then offers PLAIN, so the token, only over TLS).
		consider_websocket_secure = true;
		consider_bosh_secure = true;
	};
};

local function json_string(s)
	return '"' .. s:gsub('[%c"\\]', function(c) return ("\\u%04x"):format(c:byte()); end) .. '"';
end

local server;

local function start()
	local why;
	server, why = prosody.start(spec);
	if not server then
		io.stderr:write("prosody_runner: ", why, "\n");
		os.exit(1);
	end
	io.write(('{"http_port":%d,"c2s_port":%d,"log":%s}\n'):format(http_port, server.port, json_string(server.log_path)));
	io.flush();
end

local function stop()
	local log = server:log();
	server:stop();
	if log_copy then
		local f = assert(io.open(log_copy, "a"));
		f:write(log);
		f:close();
	end
end

start();
for command in io.lines() do
	if command == "restart" then
		stop();
		start();
	else
		io.stderr:write("prosody_runner: unknown command\n");
	end
end
stop();
