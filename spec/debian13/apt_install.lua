-- `make dist`'s .deb on Debian 13, installed and used as the README says:
-- `apt-get install ./prosody-token-auth_*.deb` in a Debian 13 root, Debian's
-- own prosody.cfg.lua with a VirtualHost file in conf.d (authentication =
-- "token", token_secret, otp_seed, "sasl_token"), a certificate in
-- /etc/prosody/certs (Prosody 13 requires encryption), Prosody started as
-- its own user with -F; logins over STARTTLS from this machine, the
-- package's token-auth command, `prosodyctl shell` user:disable and
-- user:enable. Run by scripts/debian13, which makes the root (a copy of a
-- cached one, with /proc and /dev mounted) and says where it is:
--   DEBIAN13_ROOT     the root's path on this machine
--   DEBIAN13_DEB      the .deb's path inside the root
--   DEBIAN13_VARIANT  trixie or trixie-backports: where its Prosody came from

describe("the .deb on Debian 13 #debian13", function()
	local shell = require "spec.support.shell";
	local prosody = require "spec.support.prosody";
	local tls = require "spec.support.tls";
	local xmpp = require "spec.support.xmpp";

	local quote, capture, read_file, write_file = shell.quote, shell.capture, shell.read_file, shell.write_file;
	local ROOT = assert(os.getenv("DEBIAN13_ROOT"), "DEBIAN13_ROOT is not set: run scripts/debian13");
	local DEB = assert(os.getenv("DEBIAN13_DEB"), "DEBIAN13_DEB is not set: run scripts/debian13");
	local VARIANT = assert(os.getenv("DEBIAN13_VARIANT"), "DEBIAN13_VARIANT is not set: run scripts/debian13");
	local HOST = "a.test";
	local LOG = "/var/log/prosody/prosody.log"; -- Debian's config logs there (info and up)
	local repo = shell.repo_root();
	local SEED, SECRET = prosody.random_base32(), prosody.random_base32();
	local scratch = shell.temp_dir("debian13-spec");
	local port = shell.free_port();
	local server_pid;
	local tokens = {}; -- every token used, none of which may show in the log

	-- Runs a command inside the root as root, in a clean environment.
	local function in_root(command, env)
		local words = { "chroot", quote(ROOT), "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=/root", "LANG=C.UTF-8" };
		for _, k in ipairs(shell.sorted_keys(env or {})) do
			words[#words + 1] = k .. "=" .. quote(env[k]);
		end
		words[#words + 1] = "/bin/sh -c " .. quote(command) .. " 2>&1";
		return capture(table.concat(words, " "));
	end

	local function assert_ran(out, status)
		assert.equal(0, status, out);
		return out;
	end

	local function log()
		return read_file(ROOT .. LOG) or "";
	end

	local function token_auth_mint(user)
		local out = assert_ran(in_root("token-auth mint --jid " .. user .. "@" .. HOST,
			{ TOKEN_AUTH_SECRET = SECRET, TOKEN_AUTH_OTP_SEED = SEED }));
		local token = out:match("^([^\n]+)\n$");
		assert(token, "token-auth mint printed more than a token: " .. out);
		tokens[#tokens + 1] = token;
		return token;
	end

	local function pyotp_mint(user)
		local token = prosody.mint({ user = user, host = HOST, seed = SEED, secret = SECRET });
		tokens[#tokens + 1] = token;
		return token;
	end

	local certs;
	local function login(user, mech, token)
		return xmpp.login(repo, port, { jid = user .. "@" .. HOST, mech = mech, password = token,
			tls = "starttls", ca_file = certs.ca, timeout = 10 });
	end

	local function stop_server()
		if server_pid then
			os.execute("kill " .. server_pid .. " 2>/dev/null");
			for _ = 1, 50 do
				if not shell.process_alive(server_pid, "prosody") then
					break;
				end
				shell.sleep(0.1);
			end
			if shell.process_alive(server_pid, "prosody") then
				os.execute("kill -9 " .. server_pid .. " 2>/dev/null");
			end
			server_pid = nil;
		end
	end

	teardown(function()
		stop_server();
		os.execute("rm -rf " .. quote(scratch));
	end);

	it("runs in a Debian 13 root with Prosody 13.0 from " .. VARIANT, function()
		assert.matches("^13%.", read_file(ROOT .. "/etc/debian_version") or "");
		local version = assert(read_file(ROOT .. "/usr/lib/prosody/prosody.version"), "no Prosody in the root");
		assert.matches("^13%.0%.%d+", version);
		local installed = assert_ran(in_root("dpkg-query -W -f '${Version}' prosody"));
		if VARIANT == "trixie-backports" then
			assert.matches("~bpo13", installed, 1, true);
		else
			assert.is_nil(installed:find("bpo", 1, true), installed);
		end
		-- The package is not there yet: the next test installs it.
		assert.is_nil(assert_ran(in_root("dpkg-query -W -f '${Status}' prosody-token-auth 2>/dev/null || true"))
			:find("ok installed", 1, true));
	end);

	it("installs the .deb with `apt-get install ./...deb`, with nothing else to install", function()
		local dir, file = DEB:match("^(.*)/([^/]+)$");
		local out = assert_ran(in_root(("cd %s && apt-get install -y ./%s"):format(quote(dir), quote(file)),
			{ DEBIAN_FRONTEND = "noninteractive" }));
		-- Its dependencies are all in the root: only the .deb itself is "fetched".
		assert.matches("0 upgraded, 1 newly installed, 0 to remove", out, 1, true);
		assert.matches("Setting up prosody-token-auth", out, 1, true);
		assert.equal("install ok installed", assert_ran(in_root("dpkg-query -W -f '${Status}' prosody-token-auth")));
		for _, path in ipairs({ "/usr/bin/token-auth", "/usr/lib/x86_64-linux-gnu/lua/5.4/token_auth.so",
			"/usr/lib/prosody/modules/mod_auth_token/mod_auth_token.lua",
			"/usr/lib/prosody/modules/mod_sasl_token/mod_sasl_token.lua" }) do
			assert.is_truthy(read_file(ROOT .. path), path .. " is not installed");
		end
	end);

	it("gives a token-auth command that mints and checks tokens", function()
		assert.matches("^[A-Z2-7]+\n$", assert_ran(in_root("token-auth new-seed")));
		local token = token_auth_mint("alice");
		local env = { TOKEN_AUTH_SECRET = SECRET, TOKEN_AUTH_OTP_SEED = SEED };
		assert_ran(in_root("printf '%s\\n' " .. quote(token) .. " | token-auth check --jid alice@" .. HOST, env));
		-- Another user's token is refused, with a reason and without the token.
		local out, status = in_root("printf '%s\\n' " .. quote(token) .. " | token-auth check --jid bob@" .. HOST, env);
		assert.is_not.equal(0, status);
		assert.matches("signature", out);
		assert.is_nil(out:find(token, 1, true), "the token was echoed");
	end);

	it("configures Prosody as the README says and starts it with -F", function()
		certs = assert(tls.make(scratch, { HOST }));
		-- Debian's certificate location: Prosody finds /etc/prosody/certs/<host>.{crt,key} by itself.
		assert_ran(capture(("install -m 644 %s %s/etc/prosody/certs/%s.crt && install -m 640 %s %s/etc/prosody/certs/%s.key 2>&1")
			:format(quote(certs.certificate), quote(ROOT), HOST, quote(certs.key), quote(ROOT), HOST)));
		assert_ran(in_root("chgrp prosody /etc/prosody/certs/" .. HOST .. ".key"));
		-- This test's surroundings, in the global section of Debian's own
		-- config: loopback only, a free port, no s2s and no HTTP listeners.
		local config_path = ROOT .. "/etc/prosody/prosody.cfg.lua";
		local config = assert(read_file(config_path));
		local at = assert(config:find("\nVirtualHost \"localhost\"", 1, true), "Debian's config has changed");
		write_file(config_path, config:sub(1, at) .. ([[
-- spec/debian13: loopback only, on a free port; no s2s, no HTTP
interfaces = { "127.0.0.1" }
c2s_ports = { %d }
s2s_ports = { }
http_ports = { }
https_ports = { }

]]):format(port) .. config:sub(at + 1));
		-- What the README's "The Debian package" asks for, in a host of its own.
		write_file(ROOT .. "/etc/prosody/conf.d/" .. HOST .. ".cfg.lua", ([[
VirtualHost %q
	authentication = "token"
	token_secret = %q
	otp_seed = %q
	modules_enabled = { "sasl_token" }
]]):format(HOST, SECRET, SEED));
		-- systemd makes /run/prosody for the pidfile (RuntimeDirectory=).
		assert_ran(in_root("install -d -o prosody -g prosody /run/prosody"));
		assert_ran(in_root("prosodyctl check config"));

		local console = scratch .. "/console.log";
		local out = assert_ran(capture(("chroot %s setpriv --reuid=prosody --regid=prosody --init-groups "
			.. "/usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 /usr/bin/prosody -F >%s 2>&1 & echo $!")
			:format(quote(ROOT), quote(console))));
		server_pid = assert(out:match("^(%d+)\n$"), out);
		local deadline = shell.now() + 15;
		while not shell.port_open(port) and shell.now() < deadline do
			assert(shell.process_alive(server_pid, "prosody"), "Prosody exited: " .. (read_file(console) or "") .. log());
			shell.sleep(0.1);
		end
		assert(shell.port_open(port), "Prosody did not listen on " .. port .. ":\n" .. log());
		local started = log();
		local version = read_file(ROOT .. "/usr/lib/prosody/prosody.version"):match("^%s*(%S+)");
		assert.matches("Hello and welcome to Prosody version " .. version, started, 1, true);
		assert.matches("Activated service 'c2s' on [127.0.0.1]:" .. port, started, 1, true);
		assert.is_nil(started:find("\terror\t", 1, true), started);
	end);

	it("logs in with X-TOKEN over STARTTLS, with a token from the package's token-auth", function()
		local answer = login("alice", "X-TOKEN", token_auth_mint("alice"));
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert.matches("^alice@a%.test/.+", answer.jid);
		assert.matches("^TLSv1%.[23]$", answer.tls);
	end);

	it("logs in with PLAIN over STARTTLS, with a token from pyotp and Python's hmac; a replay is refused", function()
		local token = pyotp_mint("bob");
		local answer = login("bob", "PLAIN", token);
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert.matches("^TLSv1%.[23]$", answer.tls);
		answer = login("bob", "X-TOKEN", token);
		assert.is_false(answer.ok);
		assert.equal("not-authorized", answer.condition);
		assert.matches("Token refused for bob@" .. HOST .. " via X-TOKEN: replayed", log(), 1, true);
	end);

	it("refuses a known user disabled with `prosodyctl shell user:disable`, and accepts them again after user:enable", function()
		local jid = "carol@" .. HOST;
		-- Known users (the default): carol exists once she has logged in.
		local answer = login("carol", "X-TOKEN", token_auth_mint("carol"));
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
		assert_ran(in_root(("prosodyctl shell %s"):format(quote("user:disable('" .. jid .. "')"))));
		answer = login("carol", "X-TOKEN", token_auth_mint("carol"));
		assert.is_false(answer.ok);
		assert.equal("account-disabled", answer.condition);
		-- Another user is not affected.
		assert.is_true(login("dave", "X-TOKEN", token_auth_mint("dave")).ok);
		assert_ran(in_root(("prosodyctl shell %s"):format(quote("user:enable('" .. jid .. "')"))));
		answer = login("carol", "X-TOKEN", token_auth_mint("carol"));
		assert.is_true(answer.ok, answer.condition and (answer.condition .. ": " .. tostring(answer.text)));
	end);

	it("logged no error, no token and no secret", function()
		stop_server();
		local text = log();
		assert.is_nil(text:find("\terror\t", 1, true), text);
		assert.is_nil(text:find("traceback", 1, true), text);
		for _, secret in ipairs({ SECRET, SEED }) do
			assert.is_nil(text:find(secret, 1, true), "a secret is in the log");
		end
		for _, token in ipairs(tokens) do
			assert.is_nil(text:find(token:match("^%S+"), 1, true), "a token is in the log");
		end
	end);
end);
