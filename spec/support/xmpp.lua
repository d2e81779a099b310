-- The XMPP clients of the specs, for any server on 127.0.0.1 (the Prosody and
-- ejabberd harnesses both log in through here).
--
--   local xmpp = require "spec.support.xmpp"
--   xmpp.login(repo, port, { jid = "alice@a.test", mech = "X-TOKEN", password = token })
--       legacy SASL with slixmpp (spec/support/xmpp_client.py); also token_hex,
--       raw_sasl_hex, authzid, timeout
--   xmpp.sasl2_login(repo, port, { jid = ..., mech = "X-TOKEN"|"PLAIN"|"HT-SHA-256-NONE"|
--                                  "HT-SHA-256-EXPR"|"HT-SHA-256-UNIQ",
--                                  password = token | fast_token = T [, request_token, client_id,
--                                  bad_channel_binding = true, sasl1 = true] })
--       SASL2 + Bind2 + FAST (spec/support/sasl2_client.py; sasl1: an RFC 6120 <auth/> instead)
--       -> each the client's JSON answer as a table, with .exit_status
--   Both take tls = "none" (the default) | "starttls" | "direct" with ca_file = the
--   CA's PEM, and sasl2_login tls_max = "1.2"; an answer's .tls is the TLS version.
--   xmpp.session(repo, port, out_path, { [sasl2 = true,] hold = seconds, ... })
--       -> a login left running in the background: handle:login(), handle:closed()

local shell = require "spec.support.shell";

local PYTHON = "/usr/bin/python3"; -- Debian's, with python3-slixmpp

local shell_quote, run = shell.quote, shell.capture;

local xmpp = {};

-- Prosody's util.json (Debian's 0.12 is always installed: scripts/setup);
-- a JSON null at the top level becomes nil.
function xmpp.json_decode(text)
	if not package.path:find("/usr/lib/prosody/?.lua", 1, true) then
		package.path = "/usr/lib/prosody/?.lua;" .. package.path;
	end
	local json = require "util.json";
	local value = json.decode(text);
	if type(value) == "table" then
		for k, v in pairs(value) do
			if v == json.null then
				value[k] = nil;
			end
		end
	end
	return value;
end

local optional = shell.optional_flag;

local function legacy_args(port, opts)
	local args = { "--port", tostring(port), "--jid", opts.jid, "--mech", opts.mech or "X-TOKEN" };
	optional(args, "--password", opts.password);
	optional(args, "--token-hex", opts.token_hex);
	optional(args, "--raw-sasl-hex", opts.raw_sasl_hex);
	optional(args, "--authzid", opts.authzid);
	optional(args, "--timeout", opts.timeout);
	optional(args, "--hold", opts.hold);
	optional(args, "--tls", opts.tls);
	optional(args, "--ca-file", opts.ca_file);
	return args;
end

local function sasl2_args(port, opts)
	local args = { "--port", tostring(port), "--jid", opts.jid, "--mech", opts.mech or "X-TOKEN" };
	optional(args, "--password", opts.password);
	optional(args, "--fast-token", opts.fast_token);
	optional(args, "--authzid", opts.authzid);
	optional(args, "--request-token", opts.request_token);
	optional(args, "--client-id", opts.client_id);
	optional(args, "--timeout", opts.timeout);
	optional(args, "--hold", opts.hold);
	optional(args, "--tls", opts.tls);
	optional(args, "--ca-file", opts.ca_file);
	optional(args, "--tls-max", opts.tls_max);
	if opts.sasl1 then
		args[#args + 1] = "--sasl1";
	end
	if opts.bad_channel_binding then
		args[#args + 1] = "--bad-channel-binding";
	end
	return args;
end

local function command(repo, script, args)
	return shell.command_line(PYTHON .. " " .. shell_quote(repo .. "/spec/support/" .. script), args);
end

-- Runs a client once; its answer is the first JSON line on stdout.
local function answer_of(repo, script, args)
	local out, status = run(command(repo, script, args) .. " 2>&1");
	local line = out:match("({[^\n]*})%s*$");
	local answer = line and xmpp.json_decode(line);
	assert(type(answer) == "table", script .. " gave no answer: " .. out);
	answer.exit_status = status;
	return answer;
end

function xmpp.login(repo, port, opts)
	return answer_of(repo, "xmpp_client.py", legacy_args(port, opts));
end

function xmpp.sasl2_login(repo, port, opts)
	return answer_of(repo, "sasl2_client.py", sasl2_args(port, opts));
end

-- The client runs in the background, writing its JSON lines to out_path.
function xmpp.session(repo, port, out_path, opts)
	local script, args = "xmpp_client.py", legacy_args(port, opts);
	if opts.sasl2 then
		script, args = "sasl2_client.py", sasl2_args(port, opts);
	end
	os.execute(("%s >%s 2>/dev/null </dev/null &"):format(command(repo, script, args), shell_quote(out_path)));
	local function line(n, timeout)
		local deadline = shell.now() + (timeout or 10);
		repeat
			local lines = {};
			for l in (shell.read_file(out_path) or ""):gmatch("[^\n]+") do
				lines[#lines + 1] = l;
			end
			if lines[n] then
				return xmpp.json_decode(lines[n]);
			end
			shell.sleep(0.05);
		until shell.now() > deadline;
	end
	return {
		login = function(_, timeout)
			local answer = line(1, timeout);
			if answer then
				answer.exit_status = 0; -- it answered; the process itself still runs
			end
			return answer;
		end;
		closed = function(_, timeout) return line(2, timeout); end;
	};
end

return xmpp;
