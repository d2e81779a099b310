-- The extauth part of `make bench`: requests per second through
-- `token-auth extauth`, pipelined (every request written before the first
-- answer is read), on the ejabberd and the generic protocol, beside a bare
-- Lua loop over the same native module that reads buffered and flushes
-- after each answer: the ceiling for any helper written in Lua.
--
--   lua5.4 bench/extauth.lua [--quick]      (from the repository root, after
--   luajit bench/extauth.lua [--quick]       `make build`)
--
-- Prints `name<TAB>value<TAB>unit` lines: <interpreter>_extauth_<protocol>_rate
-- and <interpreter>_extauth_bare_<protocol>_rate (requests/s, the median of
-- several runs of wall time, each run a fresh process with its own replay
-- cache), and <interpreter>_extauth_<protocol>_answers_ok (1 when every
-- answer was right). Seeds and secrets are fresh and never printed.

local interpreter = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
package.cpath = ("build/%s/?.so;"):format(interpreter) .. package.cpath

local token_auth = require "token_auth"
local socket = require "socket"

local quick = arg[1] == "--quick"
local RUNS = quick and 3 or 5
local N = quick and 20000 or 200000
local HOST = "example.com"
local lua = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

local dir = os.getenv("TMPDIR") or "/tmp"
dir = dir .. "/token-auth-bench-extauth." .. os.time() .. "." .. math.random(1e6)
assert(os.execute("mkdir -p " .. dir))

local function write(path, data)
	local f = assert(io.open(path, "wb"))
	f:write(data)
	f:close()
end

local function median(values)
	table.sort(values)
	local n = #values
	if n % 2 == 1 then return values[(n + 1) / 2] end
	return (values[n / 2] + values[n / 2 + 1]) / 2
end

local seed, secret = token_auth.new_seed(), token_auth.new_secret()
-- The capacity holds every token of a run; the window spans a run.
write(dir .. "/token.cfg", ("token_secret = %q\notp_seed = %q\ntoken_replay_capacity = %d\nVirtualHost %q\n")
	:format(secret, seed, N * 2, HOST))

io.stderr:write(("extauth.lua (%s): minting %d tokens\n"):format(interpreter, N))
local now = os.time()
local frames, lines = {}, {}
for i = 1, N do
	local user = "user" .. i
	local request = "auth:" .. user .. ":" .. HOST .. ":" .. token_auth.generate_token(user, HOST, {
		otp_seed = seed, token_secret = secret, time = now, nonce = ("%032d"):format(i),
	})
	frames[i] = string.char(math.floor(#request / 256), #request % 256) .. request
	lines[i] = request .. "\n"
end
write(dir .. "/ejabberd.in", table.concat(frames))
write(dir .. "/generic.in", table.concat(lines))
frames, lines = nil, nil -- luacheck: ignore 311

-- The bare loop: buffered reads, one verifier, a flush per answer.
write(dir .. "/bare.lua", ([[
package.cpath = %q
local token_auth = require "token_auth"
local verifier = assert(token_auth.new_verifier({ otp_seed = %q, token_secret = %q, replay_capacity = %d }))
local find, sub, byte = string.find, string.sub, string.byte
local stdin, stdout = io.stdin, io.stdout
local ejabberd = arg[1] == "ejabberd"
local yes, no = ejabberd and "\0\2\0\1" or "1\n", ejabberd and "\0\2\0\0" or "0\n"
while true do
	local request
	if ejabberd then
		local header = stdin:read(2)
		if not header then break end
		local hi, lo = byte(header, 1, 2)
		request = stdin:read(hi * 256 + lo)
	else
		request = stdin:read("*l")
	end
	if not request then break end
	local c1 = find(request, ":", 1, true)
	local c2 = find(request, ":", c1 + 1, true)
	local c3 = find(request, ":", c2 + 1, true)
	local ok = verifier:verify(sub(request, c1 + 1, c2 - 1), sub(request, c2 + 1, c3 - 1), sub(request, c3 + 1))
	stdout:write(ok and yes or no)
	stdout:flush()
end
]]):format(package.cpath, seed, secret, N * 2))

local function run(command, protocol)
	local out = dir .. "/" .. protocol .. ".out"
	local shell = ("cat %s/%s.in | %s >%s"):format(dir, protocol, command, out)
	local start = socket.gettime()
	assert(os.execute(shell))
	local seconds = socket.gettime() - start
	local f = assert(io.open(out, "rb"))
	local answers = f:read("*a")
	f:close()
	local yes = protocol == "ejabberd" and "\0\2\0\1" or "1\n"
	return N / seconds, answers == yes:rep(N)
end

local function emit(name, value, unit)
	io.write(("%s_%s\t%.4f\t%s\n"):format(interpreter, name, value, unit))
	io.flush()
end

for _, protocol in ipairs({ "ejabberd", "generic" }) do
	local helper = ("%s bin/token-auth extauth --protocol %s --config %s/token.cfg 2>%s/helper.err")
		:format(lua, protocol, dir, dir)
	local bare = ("%s %s/bare.lua %s"):format(lua, dir, protocol)
	local rates, bare_rates, all_ok = {}, {}, true
	for _ = 1, RUNS do
		local rate, ok = run(helper, protocol)
		rates[#rates + 1] = rate
		all_ok = all_ok and ok
		local bare_rate, bare_ok = run(bare, protocol)
		bare_rates[#bare_rates + 1] = bare_rate
		all_ok = all_ok and bare_ok
	end
	emit("extauth_" .. protocol .. "_rate", median(rates), "req/s")
	emit("extauth_bare_" .. protocol .. "_rate", median(bare_rates), "req/s")
	emit("extauth_" .. protocol .. "_answers_ok", all_ok and 1 or 0, "bool")
end

os.execute("rm -rf " .. dir)
