-- What the token-auth command writes: results on standard output,
-- diagnostics on standard error or to a sink, and values made safe for a
-- diagnostic line.

local output = {}

-- Called while a config runs, when strings have no methods (see config.lua).
local format, sub, gsub, byte = string.format, string.sub, string.gsub, string.byte

output.PROGRAM = "token-auth"

-- A result line on standard output.
function output.out(...)
	io.stdout:write(...)
	io.stdout:write("\n")
end

-- Where diagnostics go instead of standard error when set: a function
-- (text, severity) with severity "info", "warning" or "error" (see
-- extauth, whose standard error may be the channel it answers on).
output.sink = nil

-- A diagnostic line as it is, on standard error or to output.sink.
function output.diagnostic(severity, text)
	if output.sink then
		output.sink(text, severity)
	else
		io.stderr:write(text, "\n")
	end
end

-- An error line: "token-auth: " and the pieces.
function output.err_line(...)
	output.diagnostic("error", output.PROGRAM .. ": " .. table.concat({ ... }))
end

-- A value safe to print in a log line: printable ASCII kept, the rest escaped, truncated.
function output.printable(s, max)
	s = tostring(s)
	max = max or 64
	local truncated = #s > max
	if truncated then s = sub(s, 1, max) end
	s = gsub(s, "[^\32-\126]", function (c) return format("\\x%02x", byte(c)) end)
	if truncated then s = s .. "..." end
	return s
end

-- The first line of an error value (no traceback in a log line).
function output.first_line(e)
	return (tostring(e):match("^[^\n]*"))
end

return output
