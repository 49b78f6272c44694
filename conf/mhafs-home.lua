-- conf/mhafs-home.lua: Dovecot passdb (driver = lua) that sends each user
-- to its home node.  Dovecot wants one server per mailbox at a time, so
-- every IMAP, POP3 and LMTP session of a user is served by one node: the
-- node that wins a weighted rendezvous hash of the login over the nodes
-- that are up.  heartbeatd writes the node table (nodes_file); this script
-- only reads it, so both nodes compute the same answer without talking.
-- The hash is lib/homenode.c's, bit for bit (tests/balance checks the two
-- against each other); `mhactl user ADDRESS` shows the same answer.
--
-- It only routes, never authenticates: it answers noauthenticate=y and
-- the passdb after it checks the password.  A user at home here gets no
-- proxy fields; a user whose home is the peer gets proxy=y host=<peer>.
-- A connection that the peer proxied here is served here whatever this
-- node computes: one hop at most, even while the two views differ.  Mail
-- the peer's Postfix relays (mhafs-route) comes to another LMTP port, the
-- routed listener, where this rule does not apply: it is routed anew, and
-- a stale answer costs a second hop, never a second server.
-- Without a usable node table the user is served here (logged).
--
-- A user with mail sessions open on exactly one live node, up or drained
-- (heartbeatd's sessions_dir), is served by that node, whatever the home:
-- after a node dies, returns or is drained, a session already open
-- elsewhere is not joined by new ones on the home node; once it ends, the
-- user goes home.
--
-- The same script is the first userdb.  A userdb lookup happens only on the
-- node that is about to serve the user (after authentication, never on the
-- node that proxies): there it raises the user's MODSEQ floor once per
-- node-table stamp and index drop mark (mhafs-modseq-floor), before Dovecot
-- syncs any mailbox of the user here, so IMAP state never goes backwards
-- for a user who moves between nodes, nor after mhafs removed an index
-- here (a split-brain uidlist merge: Dovecot rebuilds it from low MODSEQs).
-- If that fails the lookup fails (a temporary error: the client or the MTA
-- tries again).
--
-- The passdb part only reads the node table and looks in the sessions
-- directory (on the mount), so it runs in the auth process (blocking=no);
-- the userdb part may run the floor command, so it runs in an auth worker
-- (blocking=yes):
-- passdb { driver = lua
--          args = file=/etc/dovecot/mhafs-home.lua blocking=no
--          result_success = continue   result_failure = continue
--          result_internalfail = continue }
-- userdb { driver = lua
--          args = file=/etc/dovecot/mhafs-home.lua blocking=yes
--          result_success = continue }

-- heartbeatd's nodes_file (mhafs.conf(5)); Dovecot 2.3 passes a Lua passdb
-- no arguments, so an installation that moves the file edits this line.
local nodes_file = "/run/mhafs/nodes"
-- The floor command (mhafs-modseq-floor: its options but -s, -t and the
-- user) and where it records each user's last stamp.
local floor_cmd = "/usr/sbin/mhafs-modseq-floor"
local floor_dir = "/var/lib/mhafs/modseq-floor"
-- mhafs's index drop mark (state_dir/index-drops, mhafs(8)): changes
-- whenever mhafs removes a Dovecot index on this node; edited with state_dir.
local drops_file = "/var/lib/mhafs/index-drops"
-- heartbeatd's sessions_dir (mhafs.conf(5)): one directory per node, one
-- file per user with mail sessions there; "" when not published.
local sessions_dir = ""
local ports = { imap = "143", pop3 = "110", lmtp = "24" }

-- FNV-1a 64 over the key, a 0 byte and the node id in decimal, then
-- MurmurHash3's 64-bit finaliser; Lua 5.3+ integers wrap like uint64_t.
local function node_hash(key, id)
	local h = 0xcbf29ce484222325
	local function feed(s)
		for i = 1, #s do
			h = (h ~ string.byte(s, i)) * 0x100000001b3
		end
	end
	feed(key)
	feed("\0")
	feed(tostring(id))
	h = h ~ (h >> 33)
	h = h * 0xff51afd7ed558ccd
	h = h ~ (h >> 33)
	h = h * 0xc4ceb9fe1a85ec53
	h = h ~ (h >> 33)
	return h
end

local function node_score(key, node)
	local u = ((node_hash(key, node.id) >> 11) + 0.5) / 9007199254740992.0
	return -node.weight / math.log(u)
end

-- The node table: "self ID" and "node ID NAME ADDRESS WEIGHT STATE" lines.
-- Returns self id, list of nodes; or nil and why.
local function read_nodes()
	local f, err = io.open(nodes_file, "r")
	if f == nil then
		return nil, err
	end
	local self, nodes, n = nil, {}, 0
	nodes.stamp = "0"
	for line in f:lines() do
		n = n + 1
		local id = line:match("^self (%d+)$")
		local stamp = line:match("^stamp (%d+)$")
		if id ~= nil then
			self = tonumber(id)
		elseif stamp ~= nil then
			nodes.stamp = stamp
		elseif line:match("^node ") then
			local nid, name, addr, w, st = line:match("^node (%d+) (%S+) (%S+) (%d+) (%a+)$")
			if nid == nil then
				f:close()
				return nil, nodes_file .. ":" .. n .. ": malformed node line"
			end
			table.insert(nodes, { id = tonumber(nid), name = name, addr = addr,
				weight = tonumber(w), state = st })
		elseif not line:match("^#") and line ~= "" then
			f:close()
			return nil, nodes_file .. ":" .. n .. ": unknown line"
		end
	end
	f:close()
	if self == nil then
		return nil, nodes_file .. ": no self line"
	end
	return self, nodes
end

-- The home node of login among the up nodes (nil: none is up).
local function home_of(login, nodes)
	local key = login:gsub("%u", string.lower)
	local best, best_score = nil, nil
	for _, node in ipairs(nodes) do
		if node.state == "up" and node.weight > 0 then
			local s = node_score(key, node)
			if best == nil or s > best_score or (s == best_score and node.id < best.id) then
				best, best_score = node, s
			end
		end
	end
	return best
end

-- The one live node where login has mail sessions (heartbeatd publishes
-- them), or nil: none, both (the home decides), or not published.  A user
-- whose home changed while a session of theirs was open (a node died,
-- returned or was drained) stays where that session is until it ends:
-- Dovecot wants one server per mailbox at a time.  A drained node (or one
-- not ready) still serves the sessions it holds, so it counts; a down
-- node's published list is stale, so it does not.
local function sessions_on(login, nodes)
	if sessions_dir == "" then
		return nil
	end
	local key = login:gsub("%u", string.lower)
	if key:find("/", 1, true) or key:sub(1, 1) == "." then
		return nil
	end
	local found = nil
	for _, node in ipairs(nodes) do
		if node.state ~= "down" then
			local f = io.open(sessions_dir .. "/" .. node.name .. "/" .. key, "r")
			if f ~= nil then
				f:close()
				if found ~= nil then
					return nil
				end
				found = node
			end
		end
	end
	return found
end

function auth_passdb_lookup(req)
	local here = { noauthenticate = "y" }
	local self, nodes = read_nodes()
	if self == nil then
		req:log_warning("mhafs-home: " .. tostring(nodes) .. ": served here")
		return dovecot.auth.PASSDB_RESULT_OK, here
	end
	local home = sessions_on(req.user, nodes)
	if home ~= nil then
		req:log_debug("mhafs-home: sessions open on " .. home.name .. ": served there")
	else
		home = home_of(req.user, nodes)
	end
	if home == nil or home.id == self then
		return dovecot.auth.PASSDB_RESULT_OK, here
	end
	local port = ports[req.service]
	if port == nil then
		return dovecot.auth.PASSDB_RESULT_OK, here
	end
	-- The peer's Dovecot proxied this session here (to the plain port):
	-- serve it, never bounce it back.  The balancer's connections come
	-- from a node's address too, but to the PROXY ports, and the peer's
	-- Postfix to the routed LMTP port: those are routed.
	for _, node in ipairs(nodes) do
		if node.id ~= self and node.addr == req.real_rip and
		    tostring(req.real_lport) == port then
			req:log_info("mhafs-home: proxied by " .. node.name .. " while home is " ..
				home.name .. " here: served here")
			return dovecot.auth.PASSDB_RESULT_OK, here
		end
	end
	req:log_debug("mhafs-home: home is " .. home.name .. ": proxied to " .. home.addr)
	return dovecot.auth.PASSDB_RESULT_OK, { noauthenticate = "y", proxy = "y",
		host = home.addr, port = port }
end

-- The stamp this node last raised login's floor for ("" if never).
local function floor_stamp(login)
	local f = io.open(floor_dir .. "/" .. login, "r")
	if f == nil then
		return ""
	end
	local v = f:read("l") or ""
	f:close()
	return v
end

-- The index drop mark ("0" before the first drop).
local function drops_mark()
	local f = io.open(drops_file, "r")
	if f == nil then
		return "0"
	end
	local v = f:read("l") or ""
	f:close()
	return v:match("^%d+$") or "0"
end

function auth_userdb_lookup(req)
	-- doveadm's own lookups (the floor command's among them) pass through
	if req.service == "doveadm" then
		return dovecot.auth.USERDB_RESULT_OK, {}
	end
	local login = req.user
	if not login:match("^[%w_+@-][%w._+@-]*$") then
		req:log_warning("mhafs-home: no MODSEQ floor for a user name with other characters")
		return dovecot.auth.USERDB_RESULT_OK, {}
	end
	local self, nodes = read_nodes()
	if self == nil then
		req:log_warning("mhafs-home: " .. tostring(nodes) .. ": MODSEQ floor not checked")
		return dovecot.auth.USERDB_RESULT_OK, {}
	end
	local stamp = nodes.stamp .. "." .. drops_mark()
	if floor_stamp(login) == stamp then
		return dovecot.auth.USERDB_RESULT_OK, {}
	end
	-- exec: no shell left waiting beside the script
	local cmd = "exec " .. floor_cmd .. " -s " .. floor_dir .. " -t " .. stamp .. " " .. login .. " 2>&1"
	local p = io.popen(cmd, "r")
	local out = p:read("a") or ""
	local ok = p:close()
	out = out:gsub("%s+$", "")
	if not ok then
		req:log_error("mhafs-home: " .. out)
		return dovecot.auth.USERDB_RESULT_INTERNAL_FAILURE, {}
	end
	if dovecot.i_info ~= nil then dovecot.i_info(out) else req:log_warning(out) end
	return dovecot.auth.USERDB_RESULT_OK, {}
end

-- For tests/balance: the home node's name for a login, from the table.
function mhafs_home(login)
	local self, nodes = read_nodes()
	if self == nil then
		return nil
	end
	local home = home_of(login, nodes)
	if home == nil then
		for _, node in ipairs(nodes) do
			if node.id == self then
				return node.name
			end
		end
		return nil
	end
	return home.name
end
