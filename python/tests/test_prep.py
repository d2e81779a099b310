"""nodeprep and nameprep agree with Prosody's own (util.encodings, as its SASL layer calls them)."""

import json

import pytest

from conftest import run_lua

from prosody_token_auth import InvalidDomain, InvalidUsername, nameprep, nodeprep

PROSODY_LIBS = "/usr/lib/prosody/?.so"

# Prosody's PLAIN and X-TOKEN: saslprep(authcid), then nodeprep; hosts: nameprep.
PREP = r"""
package.path = "/usr/lib/prosody/?.lua;" .. package.path
local encodings = require "util.encodings"
local saslprep, nodeprep, nameprep = encodings.stringprep.saslprep, encodings.stringprep.nodeprep,
	encodings.stringprep.nameprep
local function unhex(s) return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end)) end
local function hex(s) return s and (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) or "-" end
for line in io.lines() do
	local kind, name = line:match("^(%a+) (%x*)$")
	name = unhex(name)
	if kind == "node" then
		local prepped = saslprep(name)
		print(hex(prepped and nodeprep(prepped)))
	else
		print(hex(nameprep(name)))
	end
end
"""

USERNAMES = [
    "alice", "Alice", "ALICE", "Stra\u00dfe", "\u00c5ngstr\u00f6m", "A\u030angstr\u00f6m", "\ufb01ne", "x\u200by",
    "\u00bd", "\u2163", "\u03a3\u03b9\u03c3\u03c5\u03c6\u03bf\u03c2", "\u0130stanbul", "\uff21\uff42\uff43",
    "\u05d0\u05d1", "\u05d0a\u05d1", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05d01", "1\u05d0",
    "a b", "a\u00a0b", "a@b", "a/b", "a:b", "a'b", 'a"b', "a&b", "a<b", "a>b", "a\u0000b", "a\u007fb",
    "a\u202eb", "a\ue000b", "a\U0001f600b", "\u200b", "", "x" * 64, "caf\u00e9", "cafe\u0301", "\u2126", "\u212b",
    "a\u0340b", "\u0221x",
]
DOMAINS = ["example.com", "Example.COM", "B\u00dcCHER.example", "xn--bcher-kva.example", "\uff45xample.com",
           "a\u00a0b.com", "a..b", "", "exa\u200bmple.com", "\u05d0.\u05d1"]


def prosody_prep(kind, names):
    stdin = "".join(f"{kind} {n.encode().hex()}\n" for n in names)
    return [None if out == "-" else bytes.fromhex(out).decode() for out in run_lua(PREP, stdin, PROSODY_LIBS)]


def ours(prep, refused, name):
    try:
        return prep(name)
    except refused:
        return None


def test_nodeprep_matches_prosody():
    theirs = prosody_prep("node", USERNAMES)
    mine = [ours(nodeprep, InvalidUsername, n) for n in USERNAMES]
    # Prosody nodepreps "" to "", which no token verifies for: the package refuses it up front.
    theirs = [None if t == "" else t for t in theirs]
    assert json.dumps(mine) == json.dumps(theirs)
    assert mine.count(None) > 10 and mine.count(None) < len(mine) - 10


def test_nameprep_matches_prosody():
    theirs = prosody_prep("name", DOMAINS)
    mine = [ours(nameprep, InvalidDomain, d) for d in DOMAINS]
    for d, t, m in zip(DOMAINS, theirs, mine):
        # Prosody's nameprep takes the whole name; the empty name and labels,
        # spaces and controls it lets through name no host: the package refuses them.
        if t is not None and (t == "" or ".." in t or any(c <= " " for c in t)):
            assert m is None, d
        else:
            assert m == t, d


@pytest.mark.parametrize("bad", [None, 5, b"alice"])
def test_types(bad):
    with pytest.raises(TypeError):
        nodeprep(bad)
    with pytest.raises(TypeError):
        nameprep(bad)
