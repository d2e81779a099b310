-- Independent JWT issuers for the specs: PyJWT (spec/jwt/issue.py, in .venv)
-- and Node's jose (spec/jwt/issue.mjs, npm ci'd into spec/jwt/node_modules
-- by scripts/setup). Each makes fresh key pairs, writes its JWKS into a
-- directory and signs what it is asked to, at run time.
--
--   local issuers = require "spec.support.jwt_issuers"
--   issuers.ASYMMETRIC, issuers.ALL             -> algorithm names
--   issuers.issue(tool, dir, secret, requests)  -> { [name] = token }
--       tool: "py" or "jose"; requests: list of
--       { name, alg, claims = "json", header = "json" or nil, signer = "key"|"secret"|"none"|"confusion"|"stranger" }
--       writes dir/<tool>.jwks.json (and, for py, py.jwks.minus.json,
--       py-ES256.pem, py-RS256.pem)
--   issuers.versions()                          -> "PyJWT 2.x.y, jose 6.x.y"

local shell = require "spec.support.shell";

local issuers = {};

issuers.ASYMMETRIC = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA" };
issuers.ALL = { "HS256", "HS384", "HS512" };
for _, alg in ipairs(issuers.ASYMMETRIC) do
	issuers.ALL[#issuers.ALL + 1] = alg;
end

local function root()
	return shell.repo_root();
end

local function command(tool, dir, secret, input)
	if tool == "py" then
		return ("%s/.venv/bin/python %s/spec/jwt/issue.py %s %s < %s"):format(
			root(), root(), shell.quote(dir), shell.quote(secret), shell.quote(input));
	end
	return ("node %s/spec/jwt/issue.mjs %s %s < %s"):format(root(), shell.quote(dir), shell.quote(secret),
		shell.quote(input));
end

function issuers.issue(tool, dir, secret, requests)
	local lines = {};
	for _, r in ipairs(requests) do
		lines[#lines + 1] = table.concat({ r.name, r.alg, r.claims, r.header or "{}", r.signer or "key" }, "\t");
	end
	local input = dir .. "/" .. tool .. ".requests";
	shell.write_file(input, table.concat(lines, "\n") .. "\n");
	local out = shell.capture(command(tool, dir, secret, input));
	local tokens, count = {}, 0;
	for name, token in out:gmatch("([^\t\n]+)\t([^\n]*)") do
		tokens[name] = token;
		count = count + 1;
	end
	assert(count == #requests, ("%s issued %d of %d tokens: %s"):format(tool, count, #requests, out));
	return tokens;
end

function issuers.versions()
	local py = shell.capture(root() .. "/.venv/bin/python -c 'import jwt; print(jwt.__version__)'"):gsub("%s+$", "");
	local jose = (shell.read_file(root() .. "/spec/jwt/node_modules/jose/package.json") or "")
		:match('"version"%s*:%s*"([^"]+)"') or "?";
	return ("PyJWT %s, jose %s"):format(py, jose);
end

return issuers;
