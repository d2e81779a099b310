/* The cheapest Lua -> C method call, for `make bench`: obj:verify(u, h, token, time)
 * on a userdata whose metatable's __index holds one C function that returns
 * true, nil and touches nothing. Compiled for each interpreter by scripts/bench.
 * Same call shape as token_auth's verifier:verify(), without mlua or any work. */
#include <lua.h>
#include <lauxlib.h>

static int empty_verify(lua_State *L)
{
	lua_pushboolean(L, 1);
	lua_pushnil(L);
	return 2;
}

static int empty_new(lua_State *L)
{
	lua_newuserdata(L, 8);
	luaL_getmetatable(L, "bench.empty_call");
	lua_setmetatable(L, -2);
	return 1;
}

int luaopen_empty_call(lua_State *L)
{
	if (luaL_newmetatable(L, "bench.empty_call")) {
		lua_createtable(L, 0, 1);
		lua_pushcfunction(L, empty_verify);
		lua_setfield(L, -2, "verify");
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, empty_new);
	lua_setfield(L, -2, "new");
	return 1;
}
