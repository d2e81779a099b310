-- token-auth revoke, without a Prosody: the prosodyctl command it builds
-- (--print), its usage errors, and what it says when no Prosody answers.
-- Against a running Prosody: spec/e2e/accounts_spec.lua.

local shell = require "spec.support.shell"

describe("token-auth revoke", function()
	local repo = shell.repo_root()
	local lua, build = shell.interpreter()

	-- Returns stdout and stderr together, and the exit status (read from the
	-- shell: Lua 5.1's popen gives none).
	local function revoke(...)
		local words = { "LUA_CPATH=" .. shell.quote(repo .. "/build/" .. build .. "/?.so;;"), lua,
			shell.quote(repo .. "/bin/token-auth"), "revoke" }
		for _, a in ipairs({ ... }) do words[#words + 1] = shell.quote(a) end
		local out = shell.capture(table.concat(words, " ") .. " 2>&1 </dev/null; echo \"exit $?\"")
		local text, status = out:match("^(.-)exit (%d+)\n$")
		return text, tonumber(status)
	end

	it("prints the shell command for the prepared JID, with --close", function()
		local out, status = revoke("--jid", "Alice@Example.COM", "--close", "--print")
		assert.equal("'prosodyctl' shell 'token:revoke(\"alice@example.com\", \"close\")'\n", out)
		assert.equal(0, status)
	end)

	it("prints the host-wide command, with Prosody's config and prosodyctl as given", function()
		local out, status = revoke("--host", "Example.COM", "--config", "/etc/pro sody/p.cfg.lua",
			"--prosodyctl", "/opt/p13/bin/prosodyctl", "--print")
		assert.equal("'/opt/p13/bin/prosodyctl' --config '/etc/pro sody/p.cfg.lua' shell "
			.. "'token:revoke_host(\"example.com\")'\n", out)
		assert.equal(0, status)
	end)

	for _, case in ipairs({
		{ "neither --jid nor --host", {}, "give one of --jid" },
		{ "both --jid and --host", { "--jid", "a@b.test", "--host", "b.test" }, "give one of --jid" },
		{ "a user nodeprep refuses", { "--jid", "a\"b@b.test" }, "not a valid username" },
		{ "a host with an @", { "--host", "a@b.test" }, "not a valid host name" },
		{ "a value for --close", { "--jid", "a@b.test", "--close=yes" }, "--close takes no value" },
		{ "a positional argument", { "a@b.test" }, "no positional arguments" },
	}) do
		it("refuses " .. case[1] .. " with exit status 2", function()
			local out, status = revoke((table.unpack or unpack)(case[2]))
			assert.matches(case[3], out, 1, true)
			assert.equal(2, status)
		end)
	end

	it("exits 6 and says why when no Prosody answers", function()
		local out, status = revoke("--jid", "a@b.test", "--prosodyctl", "/nonexistent/prosodyctl")
		assert.matches("no answer from Prosody", out, 1, true)
		assert.equal(6, status)
	end)
end)
