-- A small stand-in for Prosody's `module` API object, for the plugin specs.
--
-- Only `module` is faked: the plugins run against Prosody's real util.sasl,
-- util.encodings, util.jid and util.set (from the libraries of the Prosody that
-- TOKEN_AUTH_PROSODY names, else Debian's in /usr/lib/prosody, built for
-- Prosody's Lua 5.4) and the real native token_auth (build/<lua>/token_auth.so).
--
--   local fake_module = require "spec.support.fake_module"
--   fake_module.setup_paths()
--   local m = fake_module.new("example.com", "auth_token", { otp_seed = ... })
--   local ok, err = fake_module.load_plugin(m)   -- runs lua/mod_auth_token.lua
--   m.provided.auth, m.logs, m.counts, m.stores, m.items
--   fake_module.fire(m, "authentication-failure", event)   -- runs m's hooks, by priority
--
-- The clock: features.now (a function returning Unix seconds) is what the
-- plugin gets for require("util.time").now, so specs pin the time the plugin
-- checks tokens at instead of racing the real clock.

local fake_module = {};

-- Put Prosody's libraries within require's reach (once); spec/helper.lua has
-- already put our native module first on the cpath. Prosody 13's libraries
-- require each other as prosody.util.*: its loader.lua maps those names.
function fake_module.setup_paths()
	if fake_module.paths_ready then
		return;
	end
	local prosody_lib = require "spec.support.prosody".source_dir() or "/usr/lib/prosody";
	fake_module.prosody_lib = prosody_lib;
	package.path = prosody_lib .. "/?.lua;" .. package.path;
	package.cpath = package.cpath .. ";" .. prosody_lib .. "/?.so";
	if io.open(prosody_lib .. "/loader.lua") then
		require "loader";
	end
	fake_module.paths_ready = true;
end

-- Can the plugins run here? Prosody's C libraries (util.encodings) are built
-- for Prosody's Lua (5.4 on Debian), so under Lua 5.1 or LuaJIT they cannot.
-- Returns true, or false and why.
function fake_module.prosody_available()
	fake_module.setup_paths();
	for _, name in ipairs({ "util.encodings", "token_auth" }) do
		local ok, err = pcall(require, name);
		if not ok then
			err = tostring(err);
			return false, err:match("^[^\n]*") .. " " .. (err:match("\n[^\n]*(undefined symbol[^\n]*)") or "");
		end
	end
	return true;
end

-- The plugin specs' preamble, called at the top of their describe block:
-- true when the plugins can run under this Lua, else the block is marked
-- pending (with why) and false returned. With `with_sasl_token`, loads
-- mod_sasl_token, so that Prosody's util.sasl has X-TOKEN (busted
-- insulates each spec file, util.sasl included: each file loads it).
--   describe("... #plugins", function()
--       local fake_module = require "spec.support.fake_module";
--       if not fake_module.ready(true) then return; end
function fake_module.ready(with_sasl_token)
	local available, why = fake_module.prosody_available();
	if not available then
		pending("needs Prosody's libraries for " .. _VERSION .. " (" .. why .. ")");
		return false;
	end
	if with_sasl_token then
		assert(fake_module.load_plugin(fake_module.new("example.com", "sasl_token", {})));
	end
	return true;
end

local function format_log(message, ...)
	local args = table.pack and table.pack(...) or { n = select("#", ...), ... };
	for i = 1, args.n do
		args[i] = tostring(args[i]);
	end
	return message:format((table.unpack or unpack)(args, 1, args.n));
end

-- Mirrors core/moduleapi.lua's option getters over a plain table.
local function add_option_getters(m, options)
	function m:get_option(name, default_value) -- luacheck: ignore 212/self
		local value = options[name];
		if value == nil then
			value = default_value;
		end
		return value;
	end
	function m:get_option_scalar(name, default_value)
		local value = self:get_option(name, default_value);
		if type(value) == "table" then
			value = value[1];
		end
		return value;
	end
	function m:get_option_string(name, default_value)
		local value = self:get_option_scalar(name, default_value);
		return value ~= nil and tostring(value) or nil;
	end
	function m:get_option_number(name, default_value)
		return tonumber(self:get_option_scalar(name, default_value));
	end
	function m:get_option_boolean(name, default_value)
		local value = self:get_option_scalar(name, default_value);
		if value == true or value == "true" or value == 1 then
			return true;
		elseif value == false or value == "false" or value == 0 then
			return false;
		end
		return nil;
	end
	function m:get_option_array(name, default_value)
		local value = self:get_option(name, default_value);
		if value == nil then
			return nil;
		elseif type(value) ~= "table" then
			return { value };
		end
		local copy = {};
		for i, v in ipairs(value) do
			copy[i] = v;
		end
		return copy;
	end
	function m:get_option_set(name, default_value)
		local value = self:get_option_array(name, default_value);
		return value and require "util.set".new(value) or nil;
	end
end

-- A keyval store in memory, as module:open_store gives (get/set by user;
-- the user nil is the host's own record, kept as data[HOST_KEY]); users()
-- lists the users with data, as Prosody's internal and SQL storage do.
local HOST_KEY = {};
fake_module.HOST_KEY = HOST_KEY;
local function new_store()
	local data = {};
	return {
		data = data;
		get = function(_, user) return data[user == nil and HOST_KEY or user]; end;
		set = function(_, user, value) data[user == nil and HOST_KEY or user] = value; return true; end;
		users = function()
			local names = {};
			for name in pairs(data) do
				if name ~= HOST_KEY then
					names[#names + 1] = name;
				end
			end
			-- As 0.12's file storage: an iterator that needs its state (the
			-- generic-for's second value), so a caller that drops it fails here too.
			return function(state)
				state.i = state.i + 1;
				return state.names[state.i];
			end, { names = names, i = 0 };
		end;
	};
end

-- features: { metric = true|false, measure = true|false } (both on by default),
-- now = function() -> seconds (the plugin's clock; default the real one),
-- stores = { name = store } (shared between loads, as Prosody's storage is).
function fake_module.new(host, name, options, features)
	features = features or {};
	local m = {
		host = host;
		name = name;
		logs = {};      -- { level = ..., message = ... } in order
		provided = {};  -- kind -> item
		counts = {};    -- metric or measure name -> count (metric: "name/label")
		hooks = {};     -- event name -> { { handler, priority }, ... }
		items = {};     -- kind -> { item, ... } (module:add_item)
		stores = features.stores or {}; -- store name -> store
		now = features.now;
	};
	add_option_getters(m, options or {});

	function m:hook(event_name, handler, priority)
		local list = self.hooks[event_name] or {};
		self.hooks[event_name] = list;
		list[#list + 1] = { handler = handler, priority = priority or 0 };
		table.sort(list, function(a, b) return a.priority > b.priority; end);
	end

	function m:add_item(kind, item)
		local list = self.items[kind] or {};
		self.items[kind] = list;
		list[#list + 1] = item;
	end

	function m:open_store(store_name)
		store_name = store_name or self.name;
		local store = self.stores[store_name] or new_store();
		self.stores[store_name] = store;
		return store;
	end

	function m:log(level, message, ...)
		self.logs[#self.logs + 1] = { level = level, message = format_log(message, ...) };
	end

	function m:provides(kind, item)
		if not item.name then
			local item_name = self.name;
			if item_name:find(kind .. "_", 1, true) == 1 then
				item_name = item_name:sub(#kind + 2);
			end
			item.name = item_name;
		end
		self.provided[kind] = item;
	end

	if features.metric ~= false then
		function m:metric(type_, metric_name, unit, description, label_keys) -- luacheck: ignore 212
			assert(type_ == "counter", "only counters are faked");
			local counts = self.counts;
			return {
				with_labels = function(_, ...)
					assert(select("#", ...) == #label_keys, "one value per label key");
					local key = metric_name .. "/" .. table.concat({ ... }, "/");
					return { add = function(_, n) counts[key] = (counts[key] or 0) + n; end };
				end;
			};
		end
	end
	if features.measure ~= false then
		function m:measure(measure_name, stat_type)
			assert(stat_type == "rate", "only rates are faked");
			local counts = self.counts;
			return function()
				counts[measure_name] = (counts[measure_name] or 0) + 1;
			end;
		end
	end
	return m;
end

-- The messages logged at `level` (or all), in order.
function fake_module.messages(m, level)
	local out = {};
	for _, entry in ipairs(m.logs) do
		if level == nil or entry.level == level then
			out[#out + 1] = entry.message;
		end
	end
	return out;
end

-- Runs m's handlers for `event_name`, highest priority first, as Prosody's
-- util.events does; returns what the first handler that returns something returns.
function fake_module.fire(m, event_name, event)
	for _, entry in ipairs(m.hooks[event_name] or {}) do
		local ret = entry.handler(event);
		if ret ~= nil then
			return ret;
		end
	end
end

-- Runs lua/mod_<name>.lua with `m` as its module, as Prosody's loader does
-- (environment: { module = m } falling back to _G). Returns true, or false and
-- the error the plugin raised.
function fake_module.load_plugin(m, plugin_dir)
	local path = (plugin_dir or "lua") .. "/mod_" .. m.name .. ".lua";
	local real_require = require;
	local env = setmetatable({
		module = m;
		-- The plugin's require, serving m.now as util.time's clock.
		require = function(lib)
			if lib == "util.time" and m.now then
				return { now = m.now };
			end
			return real_require(lib);
		end;
	}, { __index = _G });
	local chunk, err;
	if setfenv then -- Lua 5.1 / LuaJIT
		chunk, err = loadfile(path);
		if chunk then
			setfenv(chunk, env);
		end
	else
		chunk, err = loadfile(path, "t", env);
	end
	if not chunk then
		return false, err;
	end
	-- module:require(lib): lua/mod_<name>/<lib>.lib.lua in the same
	-- environment, as Prosody's loader finds it beside the plugin.
	function m:require(lib) -- luacheck: ignore 212/self
		local lib_path = (plugin_dir or "lua") .. "/mod_" .. m.name .. "/" .. lib .. ".lib.lua";
		local lib_chunk, lib_err;
		if setfenv then
			lib_chunk, lib_err = loadfile(lib_path);
			if lib_chunk then
				setfenv(lib_chunk, env);
			end
		else
			lib_chunk, lib_err = loadfile(lib_path, "t", env);
		end
		if not lib_chunk then
			error("Failed to load plugin library '" .. lib .. "', error: " .. tostring(lib_err));
		end
		return lib_chunk();
	end
	return pcall(chunk);
end

return fake_module;
