// Starts Converse.js so that it logs in with a one-time token from /token
// (credentials_url): Converse fetches a fresh one before every login and
// every reconnection, so it never presents a used token, which Prosody
// would refuse as a replay.
//
// The page offers WebSocket, and BOSH as the fallback Converse switches to
// when a connection fails; ?transport=websocket or ?transport=bosh keeps
// only one of them (the browser test logs in over each).
// Converse's full-screen view shows, until the user is logged in, a footer
// with sponsors' logos loaded from conversejs.org. A chat page of the
// application should not send its users' browsers to third parties, so an
// empty element takes that one's name before Converse can define it.
customElements.define("converse-footer", class extends HTMLElement {});

// Converse 14 ships as an ES module (its chunks load relative to it).
const { default: converse } = await import("/converse/converse.min.js");

fetch("/config.json")
	.then((response) => response.json())
	.then((config) => {
		const only = new URLSearchParams(window.location.search).get("transport");
		converse.initialize({
			authentication: "login",
			auto_login: true,
			auto_reconnect: true,
			credentials_url: "/token",
			websocket_url: only === "bosh" ? undefined : config.websocket_url,
			bosh_service_url: only === "websocket" ? undefined : config.bosh_service_url,
			discover_connection_methods: false, // the URLs above, no XEP-0156 look-up
			assets_path: "/converse/",
			view_mode: "fullscreen",
			allow_logout: false, // the application's own logout ends the chat
			allow_registration: false,
			play_sounds: false,
			blacklisted_plugins: ["converse-omemo"], // end-to-end encryption needs PEP, not set up here
			i18n: "en",
			loglevel: "info",
		});
	});
