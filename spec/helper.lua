-- Puts the native module built for the running interpreter first on the
-- cpath: `make build` leaves one per Lua ABI under build/ (token_auth.native).
require "token_auth.native".use_checkout(".")
