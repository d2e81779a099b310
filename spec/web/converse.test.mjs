// The browser test: the web example (examples/web: the Python token endpoint
// and the Converse.js page) in Debian's headless Chromium, driven by
// playwright-core, against a Prosody that this test starts
// (spec/web/prosody_runner.lua, through spec/support/prosody.lua).
//
//   node spec/web/converse.test.mjs     (after scripts/setup and `make build-lua54`)
//
// It checks, from the browser (the SASL exchange in the WebSocket frames and
// BOSH bodies, and what the page shows) and from Prosody's log:
//   - the login over WebSocket and over BOSH, with a token from credentials_url;
//   - after Prosody restarts, Converse reconnects with a new token from the
//     endpoint, and Prosody refuses no replay;
//   - a page configured with a fixed token that was used already is refused,
//     shows the failure and stops trying (no hang, no loop);
//   - `make demo-web` (scripts/demo-web) prints a URL where Converse logs in,
//     and stops Prosody and the endpoint on Ctrl-C (SIGINT);
//   - no token, seed or secret appears in Prosody's log or the endpoint's.
// Every request to another host than 127.0.0.1 is aborted and reported.
// Ends with: web (Converse.js V, Chromium V, Prosody V): N passed, N failed
// WEB_SCREENSHOT=path.png keeps the screenshot of the logged-in chat there.

import { spawn } from "node:child_process";
import crypto from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const EXAMPLE = path.join(REPO, "examples", "web");
const { chromium } = createRequire(path.join(EXAMPLE, "package.json"))("playwright-core");
const CONVERSE_VERSION = JSON.parse(
	readFileSync(path.join(EXAMPLE, "node_modules", "converse.js", "package.json"), "utf8")).version;
const PYTHON = path.join(REPO, ".venv", "bin", "python");
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync"];
const DOMAIN = "web.test";
const USER = "alice";
const JID = `${USER}@${DOMAIN}`;
const WAIT = 20000; // ms for anything a browser or server should do
const tmp = mkdtempSync(path.join(os.tmpdir(), "token-auth-web."));

// --- helpers --------------------------------------------------------------

function freePort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.on("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

function base32(bytes) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	let bits = 0, value = 0, out = "";
	for (const byte of bytes) {
		value = (value << 8) | byte;
		bits += 8;
		while (bits >= 5) {
			out += alphabet[(value >>> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	return out;
}

function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what, check, timeout = WAIT) {
	const deadline = Date.now() + timeout;
	for (;;) {
		const value = await check();
		if (value) return value;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
		await sleep(100);
	}
}

function assert(condition, message) {
	if (!condition) throw new Error(message);
}

// A child process whose output lines are kept and can be waited for.
class Child {
	constructor(name, command, args, env) {
		this.name = name;
		this.lines = [];
		this.proc = spawn(command, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
		this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
		for (const stream of [this.proc.stdout, this.proc.stderr]) {
			readline.createInterface({ input: stream }).on("line", (line) => this.lines.push(line));
		}
	}

	async line(pattern, from = 0) {
		let found;
		await until(`${this.name} to print ${pattern}`, () => {
			found = this.lines.slice(from).find((l) => pattern.test(l));
			return found !== undefined || this.proc.exitCode !== null;
		});
		if (found === undefined) throw new Error(`${this.name} exited:\n${this.lines.join("\n")}`);
		return found;
	}

	// SIGTERM; a child that stops on the end of its input gets that first.
	async stop(byEndOfInput = false) {
		if (this.proc.exitCode === null && this.proc.signalCode === null) {
			if (byEndOfInput) this.proc.stdin.end();
			else this.proc.kill("SIGTERM");
			const timer = setTimeout(() => this.proc.kill("SIGTERM"), 15000);
			await this.exited;
			clearTimeout(timer);
		}
	}
}

// Prosody, through spec/web/prosody_runner.lua: start, restart, stop.
class Prosody extends Child {
	constructor(env) {
		super("prosody_runner", "lua5.4", [path.join(REPO, "spec/web/prosody_runner.lua")], env);
	}

	starts() {
		return this.lines.filter((l) => l.startsWith('{"http_port"'));
	}

	// Waits for the JSON line of the count-th start.
	async ready(count = 1) {
		await until("Prosody to start", () => this.starts().length >= count || this.proc.exitCode !== null);
		const starts = this.starts();
		if (starts.length < count) throw new Error(`prosody_runner exited:\n${this.lines.join("\n")}`);
		this.info = JSON.parse(starts[count - 1]);
		this.count = count;
	}

	async restart() {
		this.proc.stdin.write("restart\n");
		await this.ready(this.count + 1);
	}

	stop() {
		return super.stop(true); // the runner stops Prosody, saves its log and exits
	}

	log() {
		try {
			return readFileSync(this.info.log, "utf8");
		} catch {
			return "";
		}
	}
}

// A fresh Chromium profile and page that records the SASL exchange, the
// tokens the endpoint handed out, and any request that left 127.0.0.1.
async function openBrowser(name) {
	const profile = mkdtempSync(path.join(tmp, `profile-${name}-`));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: CHROMIUM_FLAGS,
		viewport: { width: 960, height: 560 },
	});
	const record = { auths: [], outcomes: [], minted: [], foreign: [], console: [] };
	await context.route("**/*", (route) => {
		const url = new URL(route.request().url());
		if (url.hostname === "127.0.0.1") return route.fallback();
		record.foreign.push(url.origin);
		return route.abort();
	});
	const page = context.pages()[0] ?? await context.newPage();
	page.on("pageerror", (e) => record.console.push(`pageerror: ${e.message}`));
	page.on("console", (m) => record.console.push(`${m.type()}: ${m.text().slice(0, 300)}`));
	page.record = record;
	const saw = (transport, direction, text) => {
		const auth = /<auth [^>]*mechanism=["']PLAIN["'][^>]*>([^<]*)<\/auth>/.exec(text);
		if (direction === "sent" && auth) {
			const parts = Buffer.from(auth[1], "base64").toString("utf8").split("\0");
			record.auths.push({ transport, authcid: parts[1], token: parts[2], payload: auth[1] });
		}
		if (direction === "received") {
			if (/<success[ >/]/.test(text)) record.outcomes.push({ transport, ok: true });
			const failure = /<failure [^>]*>\s*<([a-z-]+)/.exec(text);
			if (failure) record.outcomes.push({ transport, ok: false, condition: failure[1] });
		}
	};
	page.on("websocket", (ws) => {
		ws.on("framesent", (f) => saw("websocket", "sent", String(f.payload)));
		ws.on("framereceived", (f) => saw("websocket", "received", String(f.payload)));
	});
	page.on("request", (r) => {
		if (r.url().includes("/http-bind")) saw("bosh", "sent", r.postData() ?? "");
	});
	page.on("response", async (r) => {
		try {
			if (r.url().includes("/http-bind")) saw("bosh", "received", await r.text());
			if (new URL(r.url()).pathname === "/token") record.minted.push((await r.json()).password);
		} catch {
			// a response whose page went away
		}
	});
	return { context, page, record, close: () => context.close().then(() => rmSync(profile, { recursive: true, force: true })) };
}

// The page shows the logged-in chat: the user's JID and presence in the control box.
async function loggedIn(page) {
	try {
		await page.getByText("I am online").first().waitFor({ timeout: WAIT });
		await page.getByText(JID).first().waitFor({ timeout: WAIT });
	} catch (e) {
		const tail = page.record.console.filter((l) => !l.startsWith("debug")).slice(-15).join("\n    ");
		throw new Error(`the page shows no logged-in chat (${e.message.split("\n")[0]}); console:\n    ${tail}`);
	}
}

function successes(record) {
	return record.outcomes.filter((o) => o.ok).length;
}

// --- the test ---------------------------------------------------------------

const seed = base32(crypto.randomBytes(20));
const secret = crypto.randomBytes(24).toString("hex");
const logCopy = path.join(tmp, "prosody-logs.txt");
const secrets = new Set([seed, secret]); // everything that must stay out of the logs
const results = [];
let prosody, endpoint, webUrl, chromiumVersion = "?", prosodyVersion = "?";

async function test(name, body) {
	const started = Date.now();
	try {
		await body();
		results.push(true);
		console.log(`ok - ${name} (${Date.now() - started} ms)`);
	} catch (e) {
		results.push(false);
		console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split("\n").join("\n  ")}`);
	}
}

function remember(record) {
	for (const a of record.auths) {
		secrets.add(a.token);
		secrets.add(a.payload);
		secrets.add(a.token.split(" ")[1]); // the signature alone
	}
	for (const t of record.minted) secrets.add(t);
}

async function setUp() {
	const httpPort = await freePort();
	prosody = new Prosody({
		WEB_DOMAIN: DOMAIN, WEB_HTTP_PORT: String(httpPort), OTP_SEED: seed, TOKEN_SECRET: secret,
		WEB_LOG_LEVEL: "info", WEB_LOG_COPY: logCopy,
	});
	await prosody.ready();
	prosodyVersion = (/Prosody version (\S+)/.exec(prosody.log()) ?? [])[1] ?? "?";
	endpoint = new Child("server.py", PYTHON, [path.join(EXAMPLE, "server.py"), "--port", "0", "--quiet",
		"--domain", DOMAIN, "--user", USER,
		"--websocket-url", `ws://127.0.0.1:${httpPort}/xmpp-websocket`,
		"--bosh-url", `http://127.0.0.1:${httpPort}/http-bind`],
	// The package from this checkout (scripts/test also checks `pip install ./python`).
	{ OTP_SEED: seed, TOKEN_SECRET: secret, PYTHONPATH: path.join(REPO, "python", "src") });
	webUrl = /listening on (\S+)/.exec(await endpoint.line(/^listening on /))[1].replace(/\/$/, "");
}

async function main() {
	try {
		await setUp();
	} catch (e) {
		console.log(`not ok - start Prosody and the token endpoint\n  ${e.stack}`);
		results.push(false);
		return;
	}

	await test("logs in over WebSocket with a token from credentials_url, and chats", async () => {
		const b = await openBrowser("websocket");
		try {
			const cdp = await b.context.newCDPSession(b.page);
			chromiumVersion = (/\/(\S+)/.exec((await cdp.send("Browser.getVersion")).product) ?? [])[1] ?? "?";
			await b.page.goto(`${webUrl}/?transport=websocket`);
			await loggedIn(b.page);
			assert(b.record.auths.length === 1 && b.record.auths[0].transport === "websocket",
				`one PLAIN auth over WebSocket expected, saw ${JSON.stringify(b.record.auths.map((a) => a.transport))}`);
			assert(b.record.auths[0].authcid === USER, "authcid is the user");
			assert(b.record.minted.includes(b.record.auths[0].token), "the token sent is one the endpoint minted");
			assert(successes(b.record) === 1, "Prosody answered <success/>");
			await until("Prosody to log the login", () => prosody.log().includes(`Authenticated as ${JID}`));
			// A real stanza round trip: a message to oneself comes back through Prosody.
			await b.page.getByText(`${JID} (me)`).first().click();
			const text = `Hello from a one-time token ${crypto.randomBytes(3).toString("hex")}`;
			const box = b.page.locator("textarea.chat-textarea").first();
			await box.waitFor({ timeout: WAIT });
			await box.fill(text);
			await box.press("Enter");
			await b.page.locator(".chat-msg__text", { hasText: text }).first().waitFor({ timeout: WAIT });
			await sleep(300); // let the chat view settle for the picture
			await b.page.screenshot({ path: process.env.WEB_SCREENSHOT || path.join(tmp, "converse.png") });
			assert(b.record.foreign.length === 0, `requests left 127.0.0.1: ${[...new Set(b.record.foreign)]}`);
		} finally {
			remember(b.record);
			await b.close();
		}
	});

	await test("logs in over BOSH with a token from credentials_url", async () => {
		const b = await openBrowser("bosh");
		try {
			await b.page.goto(`${webUrl}/?transport=bosh`);
			await loggedIn(b.page);
			assert(b.record.auths.length === 1 && b.record.auths[0].transport === "bosh",
				`one PLAIN auth over BOSH expected, saw ${JSON.stringify(b.record.auths.map((a) => a.transport))}`);
			assert(b.record.minted.includes(b.record.auths[0].token), "the token sent is one the endpoint minted");
			assert(successes(b.record) === 1, "Prosody answered <success/> over BOSH");
			const logins = prosody.log().split(`Authenticated as ${JID}`).length - 1;
			assert(logins >= 2, `Prosody logged ${logins} logins, 2 expected so far`);
		} finally {
			remember(b.record);
			await b.close();
		}
	});

	await test("reconnects after a Prosody restart with a new token, and no replay is refused", async () => {
		const b = await openBrowser("restart");
		try {
			await b.page.goto(`${webUrl}/`);
			await loggedIn(b.page);
			const first = b.record.auths[0];
			await prosody.restart();
			await until("Converse to log in again", () => successes(b.record) >= 2, 45000);
			await loggedIn(b.page);
			const again = b.record.auths[b.record.auths.length - 1];
			assert(again.token !== first.token, "the reconnection presented the first token again");
			assert(b.record.minted.includes(again.token), "the new token came from the endpoint");
			assert(b.record.minted.length >= 2, "Converse fetched credentials_url again");
			assert(b.record.outcomes.every((o) => o.ok), `a login was refused: ${JSON.stringify(b.record.outcomes)}`);
			await until("the restarted Prosody to log the login", () => prosody.log().includes(`Authenticated as ${JID}`));
			const logs = readFileSync(logCopy, "utf8") + prosody.log();
			// No refusal at all so far: in particular no replay.
			assert(!/Token refused/.test(logs), `Prosody refused a token: ${/[^\n]*Token refused[^\n]*/.exec(logs)}`);
			console.log(`  # reconnected over ${again.transport} after ${b.record.minted.length - 1} new token(s)`);
		} finally {
			remember(b.record);
			await b.close();
		}
	});

	await test("a page with a fixed, used token is refused and shows it, without a hang or a loop", async () => {
		const minted = await (await fetch(`${webUrl}/token`)).json();
		secrets.add(minted.password);
		// The example's page, with its script replaced by one that configures fixed
		// credentials instead of credentials_url. (The page itself must come from
		// the server: Chromium blocks a synthetic page's requests to 127.0.0.1.)
		const config = await (await fetch(`${webUrl}/config.json`)).json();
		const fixedScript = `
			customElements.define("converse-footer", class extends HTMLElement {});
			const { default: converse } = await import("/converse/converse.min.js");
			converse.initialize(${JSON.stringify({
				authentication: "login", auto_login: true, jid: minted.jid, password: minted.password,
				websocket_url: config.websocket_url, discover_connection_methods: false, view_mode: "fullscreen",
				allow_registration: false, play_sounds: false, i18n: "en", blacklisted_plugins: ["converse-omemo"],
			})});`;
		const open = async (name) => {
			const b = await openBrowser(name);
			await b.context.route(`${webUrl}/app.js`, (route) =>
				route.fulfill({ contentType: "text/javascript", body: fixedScript }));
			await b.page.goto(`${webUrl}/`);
			return b;
		};
		const first = await open("fixed-first");
		try {
			await loggedIn(first.page); // the token is fresh: this uses it
		} finally {
			remember(first.record);
			await first.close();
		}
		const second = await open("fixed-again");
		try {
			const started = Date.now();
			await until("Prosody's <failure/>", () => second.record.outcomes.length > 0);
			const outcome = second.record.outcomes[0];
			assert(!outcome.ok && outcome.condition === "not-authorized", `refusal expected: ${JSON.stringify(outcome)}`);
			// The page says so: Converse's login form comes back with the reason.
			const feedback = second.page.locator(".conn-feedback:not(.d-none)").first();
			await feedback.waitFor({ timeout: WAIT });
			const shown = (await feedback.innerText()).trim();
			assert(shown.length > 0, "the failure is shown");
			await until("Prosody to log the refusal", () =>
				new RegExp(`Token refused for ${JID.replace(".", "\\.")} via PLAIN: replayed`).test(prosody.log()));
			await sleep(3000);
			assert(second.record.auths.length === 1, `Converse tried ${second.record.auths.length} times`);
			console.log(`  # refused in ${Date.now() - started - 3000} ms; the page shows "${shown}"`);
		} finally {
			remember(second.record);
			await second.close();
		}
	});

	await test("make demo-web: a URL where Converse logs in, and Ctrl-C stops it all", async () => {
		const demo = new Child("demo-web", PYTHON, [path.join(REPO, "scripts", "demo-web")], { DEMO_USER: "dora" });
		try {
			const url = /Open (\S+) in a browser/.exec(await demo.line(/^ {2}Open \S+ in a browser/))[1];
			const dir = path.dirname(/its log: (\S+)/.exec(await demo.line(/its log: /))[1]);
			const b = await openBrowser("demo");
			try {
				await b.page.goto(url);
				await b.page.getByText("dora@localhost").first().waitFor({ timeout: WAIT });
				await b.page.getByText("I am online").first().waitFor({ timeout: WAIT });
			} finally {
				remember(b.record);
				await b.close();
			}
			demo.proc.kill("SIGINT"); // what Ctrl-C sends it
			const exit = await Promise.race([demo.exited, sleep(WAIT).then(() => null)]);
			assert(exit !== null, "demo-web did not stop on SIGINT");
			assert(demo.lines.includes("demo-web: stopped"), "demo-web did not say it stopped");
			assert(!existsSync(dir), `Prosody's directory ${dir} is still there`);
		} finally {
			await demo.stop();
		}
	});

	await endpoint.stop();
	await prosody.stop();

	await test("nothing secret in Prosody's log or the endpoint's", async () => {
		const logs = readFileSync(logCopy, "utf8");
		assert(logs.includes(`Authenticated as ${JID}`), "the log is the one the logins went to");
		const output = endpoint.lines.join("\n");
		assert(output.includes(`minted a token for ${JID}`), "the endpoint's log is there");
		assert(secrets.size > 8, "tokens were collected");
		for (const s of secrets) {
			assert(!logs.includes(s), "a token, seed or secret is in Prosody's log");
			assert(!output.includes(s), "a token, seed or secret is in the endpoint's log");
		}
	});
}

try {
	await main();
} finally {
	await endpoint?.stop();
	await prosody?.stop();
	rmSync(tmp, { recursive: true, force: true });
}
const passed = results.filter(Boolean).length;
console.log(`web (Converse.js ${CONVERSE_VERSION}, Chromium ${chromiumVersion}, Prosody ${prosodyVersion}): `
	+ `${passed} passed, ${results.length - passed} failed`);
process.exit(results.length > 0 && passed === results.length ? 0 : 1);
