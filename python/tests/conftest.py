"""Shared helpers: the repository, and Lua 5.4 with the native module or Prosody's libraries."""

import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(os.environ.get("TOKEN_AUTH_REPO", pathlib.Path(__file__).resolve().parents[2]))
NATIVE = REPO / "build" / "lua54" / "token_auth.so"


def run_lua(script, stdin="", cpath=None):
    """Run `script` under lua5.4 with `cpath` first on package.cpath; return its stdout lines."""
    env = dict(os.environ, LUA_CPATH=f"{cpath};;" if cpath else ";;")
    done = subprocess.run(["lua5.4", "-e", script], input=stdin, capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="session")
def native():
    """Runs a Lua script that has `token_auth` (build/lua54/token_auth.so) loaded."""
    assert NATIVE.is_file(), f"{NATIVE} is missing: run `make build-lua54` first"
    cpath = str(NATIVE.parent / "?.so")

    def run(script, stdin=""):
        return run_lua('local token_auth = require "token_auth"\n' + script, stdin, cpath)

    return run
