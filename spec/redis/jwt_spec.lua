-- JWTs through the Redis replay store, against a real redis-server started
-- here: the same claim path as the classic tokens (waited for, and sent
-- without waiting as the plugin does), keys that live until exp + leeway,
-- one store shared by several verifiers, and no key for reusable JWTs.
-- Tokens from PyJWT (spec/jwt/issue.py) at run time.

local shell = require "spec.support.shell"
local redis = require "spec.support.redis"
local issuers = require "spec.support.jwt_issuers"

local SECRET = "an HMAC secret of sixty-four bytes for HS512 JWTs, nothing less!!"

describe("JWTs through the Redis replay store #redis", function()
	local token_auth = require "token_auth"
	local server, dir, tokens, now

	lazy_setup(function()
		server = assert(redis.start())
		dir = shell.temp_dir("token-auth-redis-jwt")
		now = os.time()
		local requests = {}
		for _, name in ipairs({ "waited", "deferred", "shared", "reusable", "no-jti" }) do
			requests[#requests + 1] = { name = name, alg = "HS256", signer = "secret",
				claims = ('{"sub":"alice","exp":%d,"iat":%d%s}'):format(now + 300, now,
					name == "no-jti" and "" or (',"jti":"%s"'):format(name)) }
		end
		tokens = issuers.issue("py", dir, SECRET, requests)
	end)

	lazy_teardown(function()
		if server then server:stop() end
		if dir then os.execute("rm -rf " .. shell.quote(dir)) end
	end)

	local function verifier(extra)
		local config = { jwt_secret = SECRET, replay_store = server.url }
		for k, v in pairs(extra or {}) do config[k] = v end
		return assert(token_auth.new_verifier(config))
	end

	it("claims a JWT once, with a key that lives until exp + leeway", function()
		local before = tonumber(server:cli("DBSIZE"))
		local v = verifier()
		assert.same({ true }, { v:verify("alice", "example.com", tokens.waited, now) })
		assert.same({ nil, "replayed" }, { v:verify("alice", "example.com", tokens.waited, now) })
		-- The claim's key and the user's set of live claims (token_replay_per_user).
		assert.equal(before + 2, tonumber(server:cli("DBSIZE")))
		local key
		for found in server:cli("KEYS", "token_auth:example.com:*"):gmatch("[^\n]+") do
			if not found:find(":user:", 1, true) then key = found end
		end
		local ttl = tonumber(server:cli("PTTL", key))
		assert.is_true(ttl > 355000 and ttl <= 361000, tostring(ttl)) -- 300 s + 60 s leeway, less the time gone
		-- Another verifier on the same store, and a bare JWT verifier: replayed.
		assert.same({ nil, "replayed" }, { verifier():verify("alice", "example.com", tokens.waited, now) })
		assert.same({ nil, "replayed" }, { verifier():verify_bearer("example.com", tokens.waited, now) })
	end)

	it("takes the deferred path the plugin uses (begin_verify, collect)", function()
		local v = verifier()
		local ok, ticket = v:begin_verify("alice", "example.com", tokens.deferred, now)
		assert.is_false(ok)
		-- What Prosody's event loop does: collect until the verdict is in.
		local function verdict_of(t)
			local deadline = shell.now() + 2
			repeat
				local verdict = v:collect()[t]
				if verdict ~= nil then return verdict end
				shell.sleep(0.002)
			until shell.now() > deadline
		end
		assert.is_true(verdict_of(ticket))
		local _, again = v:begin_verify("alice", "example.com", tokens.deferred, now)
		assert.equal("replayed", verdict_of(again))
		-- What fails before the store does not reach it.
		assert.same({ nil, "jwt_wrong_user" }, { v:begin_verify("bob", "example.com", tokens.deferred, now) })
	end)

	it("shares one store between a JWT verifier and a login verifier; no jti: the signature", function()
		local jwt = assert(token_auth.new_jwt_verifier({ jwt_secret = SECRET, replay_store = server.url }))
		assert.equal("alice", (jwt:verify(tokens["no-jti"], now)).sub)
		assert.same({ nil, "replayed" }, { jwt:verify(tokens["no-jti"], now) })
		assert.equal("alice", (jwt:verify(tokens.shared, now)).sub)
		-- The login verifier keys by user and host, the bare one by nothing:
		-- each remembers its own uses, both through Redis.
		assert.same({ true }, { verifier():verify("alice", "example.com", tokens.shared, now) })
		assert.same({ nil, "replayed" }, { verifier():verify("alice", "example.com", tokens.shared, now) })
	end)

	it("writes nothing for reusable JWTs", function()
		local before = tonumber(server:cli("DBSIZE"))
		local v = verifier({ jwt_single_use = false })
		for _ = 1, 3 do
			assert.same({ true }, { v:verify("alice", "example.com", tokens.reusable, now) })
		end
		assert.equal(before, tonumber(server:cli("DBSIZE")))
	end)
end)
