-- Certificates for the servers the specs and scripts/demo start, made with
-- the openssl command at test time: a throwaway certificate authority and one
-- server certificate, signed by it, naming every test host.
--
--   local tls = require "spec.support.tls"
--   local certs = assert(tls.make(dir, { "a.test", "b.test" }))
--   certs.ca            -- the CA's certificate (PEM): what the clients trust
--   certs.certificate   -- the server's certificate (PEM), for Prosody's `ssl`
--   certs.key           -- its private key (PEM)
--
-- The CA's key is deleted once it has signed: nothing else can be signed with
-- it. Keys are P-256 (fast to make); both certificates live two days. The
-- extensions are those a strict verifier asks for (Python 3.13 sets
-- VERIFY_X509_STRICT by default): a critical CA basicConstraints and keyUsage,
-- key identifiers, and the hosts as subjectAltName DNS entries (plus
-- localhost and 127.0.0.1).

local shell = require "spec.support.shell";

local quote, capture, write_file = shell.quote, shell.capture, shell.write_file;

local tls = {};

local NEW_KEY = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

-- Runs one openssl command in `dir`; returns true, or nil and its output.
local function openssl(dir, args)
	local out, status = capture(("cd %s && openssl %s 2>&1"):format(quote(dir), args));
	if status ~= 0 then
		return nil, "openssl " .. args:match("^%S+") .. " failed: " .. out;
	end
	return true;
end

-- Makes the CA and the server certificate for `hosts` in `dir` (which must
-- exist). Returns { ca = path, certificate = path, key = path }, or nil and
-- why (openssl missing or failing).
function tls.make(dir, hosts)
	local names = {};
	for _, host in ipairs(hosts) do
		assert(host:match("^[%w.-]+$"), "bad host name for a certificate");
		names[#names + 1] = "DNS:" .. host;
	end
	names[#names + 1] = "DNS:localhost";
	names[#names + 1] = "IP:127.0.0.1";
	write_file(dir .. "/server.ext", table.concat({
		"basicConstraints = critical, CA:FALSE",
		"keyUsage = critical, digitalSignature, keyEncipherment",
		"extendedKeyUsage = serverAuth",
		"subjectKeyIdentifier = hash",
		"authorityKeyIdentifier = keyid, issuer",
		"subjectAltName = " .. table.concat(names, ", "),
	}, "\n") .. "\n");
	local steps = {
		("req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj '/CN=prosody-token-auth test CA'"
			.. " -addext 'basicConstraints = critical, CA:TRUE'"
			.. " -addext 'keyUsage = critical, keyCertSign, cRLSign'"):format(NEW_KEY),
		("req -new %s -keyout server.key -out server.csr -subj %s"):format(NEW_KEY, quote("/CN=" .. (hosts[1] or "localhost"))),
		"x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem",
	};
	for _, step in ipairs(steps) do
		local ok, why = openssl(dir, step);
		if not ok then
			return nil, why;
		end
	end
	os.execute(("cd %s && rm -f ca.key ca.srl server.csr server.ext"):format(quote(dir)));
	return { ca = dir .. "/ca.pem", certificate = dir .. "/server.pem", key = dir .. "/server.key" };
end

return tls;
