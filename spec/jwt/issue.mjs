// Issues JWTs with Node's jose, for the JWT specs: an independent issuer.
//
//   node issue.mjs OUTDIR SECRET < requests > tokens
//
// The same protocol as issue.py: a fresh key pair per asymmetric algorithm,
// their public JWKs in OUTDIR/jose.jwks.json (kid "jose-<ALG>"); request
// lines "name<TAB>alg<TAB>claims-json<TAB>header-json<TAB>signer" with
// signer "key", "secret" or "stranger"; answers "name<TAB>token".
import { readFileSync, writeFileSync } from "node:fs";
import { generateKeyPair, exportJWK, SignJWT } from "jose";

const [out, secret] = process.argv.slice(2);
const asymmetric = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];
const newPair = (alg) => generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : {});
const keys = {};
const strangers = {}; // made when first asked for
const jwks = [];
for (const alg of asymmetric) {
	const pair = await newPair(alg);
	keys[alg] = pair.privateKey;
	jwks.push({ ...(await exportJWK(pair.publicKey)), kid: `jose-${alg}`, alg, use: "sig" });
}
writeFileSync(`${out}/jose.jwks.json`, JSON.stringify({ keys: jwks }));

const secretKey = new TextEncoder().encode(secret);
for (const line of readFileSync(0, "utf8").split("\n")) {
	if (!line) continue;
	const [name, alg, claims, header, signer] = line.split("\t");
	const protectedHeader = { alg, typ: "JWT", ...JSON.parse(header) };
	let key = secretKey;
	if (signer === "key" || signer === "stranger") {
		if (signer === "stranger") strangers[alg] ??= (await newPair(alg)).privateKey;
		key = (signer === "key" ? keys : strangers)[alg];
		protectedHeader.kid ??= `jose-${alg}`;
	}
	const token = await new SignJWT(JSON.parse(claims)).setProtectedHeader(protectedHeader).sign(key);
	process.stdout.write(`${name}\t${token}\n`);
}
