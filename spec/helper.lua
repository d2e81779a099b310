-- Puts the native module built for the running interpreter first on the
-- cpath: `make build` leaves one per Lua ABI under build/.
local build_dir
if type(jit) == "table" then
	build_dir = "build/luajit"
else
	build_dir = "build/lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", "")
end
package.cpath = build_dir .. "/?.so;" .. package.cpath
