-- Puts the native module built for the running interpreter first on the
-- cpath: `make build` leaves one per Lua ABI under build/.
local _, build = require "spec.support.shell".interpreter()
package.cpath = "build/" .. build .. "/?.so;" .. package.cpath
