-- The replay store over TLS (rediss://): a real redis-server with TLS only,
-- certificates made here with openssl (spec/support/redis.lua), the native
-- module's verifiers, and one Prosody login through a TLS store.

describe("the Redis replay store over TLS #redis", function()
	local redis = require "spec.support.redis";
	local shell = require "spec.support.shell";
	local token_auth = require "token_auth";

	local SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
	local SECRET = "redis-spec-secret-0123456789";
	local dir, certs, server;

	local function mint(user)
		return token_auth.generate_token(user, "example.com", { otp_seed = SEED, token_secret = SECRET });
	end

	local function verifier(extra)
		local config = { otp_seed = SEED, token_secret = SECRET, replay_store = server.url, replay_store_ca = certs.ca };
		for k, v in pairs(extra or {}) do config[k] = v; end
		return token_auth.new_verifier(config);
	end

	setup(function()
		dir = shell.temp_dir("token-auth-redis-tls");
		certs = assert(redis.make_certs(dir));
		server = assert(redis.start({ tls = certs, password = "tls-pass" }));
	end);

	teardown(function()
		if server then server:stop(); end
		os.execute("rm -rf " .. shell.quote(dir));
	end);

	before_each(function()
		collectgarbage();
		collectgarbage();
		server:cli("FLUSHALL");
	end);

	it("claims through a TLS Redis whose certificate chains to the CA file", function()
		local v = assert(verifier({ replay_store = server.url .. "/4" }));
		local token = mint("alice");
		assert.same({ true, nil }, { v:verify("alice", "example.com", token) });
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", token) });
		assert.equal(1, #server:token_keys(4));
		assert.is_true(v:stats().replay_store_available);
	end);

	it("claims without waiting: the handshake and AUTH go out with the first claim", function()
		local v = assert(verifier());
		local token = mint("bob");
		local ok, ticket = v:begin_verify("bob", "example.com", token);
		assert.is_false(ok);
		local fd, _, serial, writable = v:store_socket();
		assert.is_number(fd);
		assert.equal(1, serial);
		-- Writable is watched for only while connecting or holding records the
		-- socket did not take; the claim itself waits in rustls until the
		-- handshake (driven by readability) completes.
		assert.is_boolean(writable);
		local result;
		local deadline = shell.now() + 2;
		repeat
			result = v:collect()[ticket];
			shell.sleep(0.002);
		until result ~= nil or shell.now() > deadline;
		assert.is_true(result);
		assert.is_false((select(4, v:store_socket())), "nothing left to write once answered");
		assert.same({ nil, "replayed" }, { v:verify("bob", "example.com", token) });
	end);

	it("refuses a Redis whose certificate another CA signed, and says why", function()
		local v = assert(verifier({ replay_store_ca = certs.other_ca }));
		assert.same({ nil, "replay_store_unavailable" }, { v:verify("carol", "example.com", mint("carol")) });
		assert.equal("TLS: invalid peer certificate: UnknownIssuer", v:stats().replay_store_error);
		assert.equal("0", server:cli("DBSIZE"));
	end);

	it("refuses a certificate for another name than the URL's host", function()
		-- The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
		local v = assert(verifier({ replay_store = server.url:gsub("127%.0%.0%.1", "127.0.0.2") }));
		local _, reason = v:verify("carol", "example.com", mint("carol"));
		assert.equal("replay_store_unavailable", reason);
		local problem = v:stats().replay_store_error;
		-- Nothing listens on 127.0.0.2 at that port, or the name does not match.
		assert.is_truthy(problem == "connection refused" or problem:match("^TLS: invalid peer certificate"), problem);
	end);

	it("offers a client certificate to a Redis that requires one", function()
		local strict = assert(redis.start({ tls = certs, tls_auth_clients = "yes" }));
		local ok, err = pcall(function()
			local without = assert(verifier({ replay_store = strict.url }));
			assert.same({ nil, "replay_store_unavailable" }, { without:verify("dave", "example.com", mint("dave")) });
			local with = assert(verifier({ replay_store = strict.url, replay_store_cert = certs.client,
				replay_store_key = certs.client_key }));
			assert.same({ true, nil }, { with:verify("dave", "example.com", mint("dave")) });
			assert.equal(1, #strict:token_keys());
		end);
		strict:stop();
		assert(ok, err);
	end);

	it("refuses bad TLS options at creation, naming them and never the files' content", function()
		for _, case in ipairs({
			{ { replay_store_ca = dir .. "/missing.pem" }, "^replay_store_ca: cannot be read" },
			{ { replay_store_ca = certs.server_key }, "^replay_store_ca: " },
			{ { replay_store_cert = certs.client }, "^replay_store_key: is needed" },
			{ { replay_store_cert = certs.client, replay_store_key = certs.server_key }, "^replay_store_key: does not match" },
			{ { replay_store = "redis://127.0.0.1:1" }, "^replay_store_ca: is set, but replay_store is not a rediss:// URL" },
			{ { replay_store = "rediss://127.0.0.1:1#insecure" }, "^replay_store: " },
		}) do
			local v, code, option, text = verifier(case[1]);
			assert.is_nil(v);
			assert.is_string(token_auth.config_problems[code]);
			local err = option .. ": " .. text;
			assert.matches(case[2], err);
			assert.not_matches("BEGIN", err, 1, true);
		end
		local v, code, option, text = token_auth.new_verifier({ otp_seed = SEED, token_secret = SECRET,
			replay_store_ca = certs.ca });
		assert.same({ nil, "conflict", "replay_store" }, { v, code, option });
		assert.matches("^is not set", text);
	end);

	it("serves a Prosody login through the TLS store #prosody", function()
		local prosody = require "spec.support.prosody";
		local host = "tls.test";
		local seed, secret = prosody.random_base32(), prosody.random_base32();
		local p = assert(prosody.start({
			hosts = { host };
			options = {
				otp_seed = seed;
				token_secret = secret;
				token_replay_store = server.url;
				token_replay_store_ca = certs.ca;
			};
		}));
		local ok, err = pcall(function()
			local token = prosody.mint({ user = "erin", host = host, seed = seed, secret = secret });
			local first = p:login({ jid = "erin@" .. host, mech = "X-TOKEN", password = token });
			assert.is_true(first.ok, tostring(first.condition) .. ": " .. tostring(first.text));
			local again = p:login({ jid = "erin@" .. host, mech = "X-TOKEN", password = token });
			assert.is_false(again.ok);
			assert.equal("not-authorized", again.condition);
			assert.matches("Token for erin@tls.test waits for the replay store", p:log(), 1, true);
		end);
		p:stop();
		assert(ok, err);
	end);
end);
