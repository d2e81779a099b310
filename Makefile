# The two commands of the README:
#   make demo   - a throwaway Prosody with token auth, a minted token, a real login
#   make test   - every test suite, ending with "N passed, N failed"
#   make check  - the edit loop: Rust tests and the specs that need no server
# Both install what they need first (scripts/setup).

LUA_VERSIONS := lua54 lua53 lua52 lua51 luajit
CARGO ?= cargo

.PHONY: all setup build test check demo demo-web bench fuzz lint dist clean $(addprefix build-,$(LUA_VERSIONS))

all: build

setup:
	@scripts/setup

# One build per interpreter: a Lua module is linked against one Lua ABI.
# All share one target directory, so the dependencies (the crypto and TLS
# crates) are compiled once, not once per Lua (about 50 s each on two
# cores); each build's library is copied out before the next one replaces
# it, hence no parallel make.
.NOTPARALLEL:
build: $(addprefix build-,$(LUA_VERSIONS))

$(addprefix build-,$(LUA_VERSIONS)): build-%:
	$(CARGO) build --quiet --release --features $* --target-dir target/native
	@mkdir -p build/$*
	@cp target/native/release/libtoken_auth.so build/$*/token_auth.so

test: setup
	@scripts/test

# The fast tier, for the edit loop (under a minute on two cores once built):
# no Prosody, Redis, ejabberd or browser is started; make test runs it all.
check: build-lua54
	$(CARGO) test --quiet
	lua5.4 /usr/bin/busted --exclude-tags=e2e,slow,plugins,redis,dist

demo: setup build-lua54
	@scripts/demo

# The web example: Prosody and the token endpoint on 127.0.0.1, a URL to open; Ctrl-C stops.
demo-web: setup build-lua54
	@.venv/bin/python scripts/demo-web

bench: setup build-lua54 build-luajit
	@scripts/bench

# Artifacts that install with no Rust toolchain: a binary rock for each of
# Lua 5.4, 5.3 and 5.2, and a Debian package, in dist/ (scripts/dist).
dist: setup build-lua54 build-lua53 build-lua52
	@scripts/dist

fuzz: setup
	@scripts/fuzz $(FUZZ_SECONDS)

lint:
	luacheck lua spec bin/token-auth
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets --features lua54 -- -D warnings

clean:
	rm -rf target build dist
