"""A host that runs an external-auth helper the way Prosody's
mod_auth_external_insecure does through lpty, written for this project
from the behaviour measured with the real module (see the design notes);
no code comes from lpty.

What it reproduces:
- the helper's standard input, output AND error are the slave end of one
  new pseudo-terminal (its controlling terminal, in a session of its own);
- echo is turned off in the child after fork, before exec;
- the master end leaks into the helper (lpty does not close it), unless
  leak_master=False;
- a request is one write; its answer is whatever one select() + one
  read(4096) returns, as the module takes it.

As a module: PtyHost(argv, env).  As a script (for the tests that kill the
host): lpty_host.py MASTER_FD SLAVE_FD PIDFILE -- ARGV...  starts the helper
on the given pty, writes the helper's PID to PIDFILE and waits for ever.
"""

import fcntl
import os
import select
import signal
import sys
import termios
import time


def start_on(argv, env, master, slave, leak_master=True, stderr_fd=None):
    """Forks and execs argv on the pty's slave end; returns the child's PID."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:  # the child: nothing here may return into the caller's code
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        os.dup2(slave, 0)
        os.dup2(slave, 1)
        os.dup2(stderr_fd if stderr_fd is not None else slave, 2)
        if slave > 2:
            os.close(slave)
        attrs = termios.tcgetattr(0)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(0, termios.TCSANOW, attrs)
        if leak_master:
            os.set_inheritable(master, True)
        else:
            os.close(master)
        os.execvpe(argv[0], argv, env if env is not None else os.environ)
    finally:
        os._exit(127)


def process_gone(pid):
    """True when pid has exited (no such process, or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2:][:1] == b"Z"


class PtyHost:
    """One helper on one pseudo-terminal, driven like the module drives it."""

    def __init__(self, argv, env=None, leak_master=True, stderr_fd=None, wait_raw=True):
        self.master, slave = os.openpty()
        self.pid = start_on(argv, env, self.master, slave, leak_master, stderr_fd)
        os.close(slave)
        self.status = None
        self.original = None
        if wait_raw:
            self.wait_raw()

    def attrs(self):
        """The terminal's settings, as the slave end has them."""
        return termios.tcgetattr(self.master)

    def wait_raw(self, timeout=10.0):
        """Waits until the helper made the terminal raw (ICANON off)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.attrs()[3] & termios.ICANON:
                return
            if self.poll_exit() is not None:
                raise AssertionError(f"the helper exited with status {self.status} before it was ready")
            time.sleep(0.005)
        raise AssertionError("the helper never made its terminal raw")

    def send(self, data):
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]

    def read_once(self, timeout=5.0):
        """One select() + one read(4096), as the module reads an answer."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:  # EIO: the slave end is closed
            return b""

    def request(self, data, timeout=5.0):
        self.send(data)
        return self.read_once(timeout)

    def poll_exit(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.poll_exit() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.status

    def close(self):
        """Stops the helper if it still runs and closes the master end (once)."""
        if self.poll_exit() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait()
        if self.master is not None:
            os.close(self.master)
            self.master = None


def main(argv):
    master, slave, pidfile = int(argv[1]), int(argv[2]), argv[3]
    command = argv[argv.index("--") + 1:]
    pid = start_on(command, None, master, slave)
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(pid))
    os.rename(pidfile + ".tmp", pidfile)
    while True:
        signal.pause()


if __name__ == "__main__":
    main(sys.argv)
