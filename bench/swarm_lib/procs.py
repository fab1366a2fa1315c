"""procs.py — the benchmark's child processes: start, watch, account, end.

Every process the benchmark starts goes through `Procs.spawn`, which uses
posix_spawn (cheap even for a thousand children) with the process in its own
session, stdout and stderr to files. The registry ends exactly the processes
it started, by pid, on normal exit, on error and on Ctrl-C; it never signals
anything by name. Each child is reaped with wait4, which gives its CPU time
without racing its exit; memory is read from /proc/PID/status while it runs.
"""

import os
import signal
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Proc:
    """One child process: how it was started, and how it ended once reaped."""

    def __init__(self, name, argv, pid, out_path, err_path):
        self.name = name
        self.argv = argv
        self.pid = pid
        self.out_path = out_path
        self.err_path = err_path
        self.spawned_unix = time.time()
        self.rc = None          # exit status (negative: killed by that signal)
        self.cpu_s = None       # user + system seconds of the whole life
        self.maxrss_kib = None  # ru_maxrss: includes the spawner's RSS (vfork), see run_common
        self.exited_unix = None
        self.mem = {}           # mem_now() taken when the run ended
        self.nice_ok = True     # False: the nice asked for was not permitted

    @property
    def alive(self):
        return self.rc is None

    def stdout(self):
        return _read(self.out_path)

    def stderr(self):
        return _read(self.err_path)

    def cpu_now(self):
        """User + system seconds so far from /proc (None once gone)."""
        try:
            with open("/proc/%d/stat" % self.pid, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            return None
        # after "comm)": state is field 3 of stat(5); utime and stime are 14 and 15
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def mem_now(self):
        """{VmHWM, RssAnon, RssFile, RssShmem} in KiB from /proc (empty once gone).

        ru_maxrss counts shared library pages in every process; RssAnon is
        what a process costs on its own."""
        out = {}
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in ("VmHWM", "RssAnon", "RssFile", "RssShmem"):
                        out[key] = int(rest.split()[0])
        except (OSError, ValueError, IndexError):
            return {}
        return out

    def signal(self, sig):
        if self.alive:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def _reaped(self, status, ru):
        self.rc = os.waitstatus_to_exitcode(status)
        self.cpu_s = ru.ru_utime + ru.ru_stime
        self.maxrss_kib = ru.ru_maxrss
        self.exited_unix = time.time()

    def poll(self):
        """Reaps the process if it has exited; True while it runs."""
        if not self.alive:
            return False
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.rc = -999
            return False
        if pid == 0:
            return True
        self._reaped(status, ru)
        return False

    def wait(self, timeout):
        """Waits up to timeout seconds for exit; True if it exited."""
        deadline = time.monotonic() + timeout
        while self.poll():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def renice(pid, nice):
    """Sets pid's CPU weight; returns False if that was not permitted (a
    negative nice needs CAP_SYS_NICE). With autogroup scheduling (Linux's
    default on desktops and many servers) a process's own nice ranks it only
    within its session's group, and every child here has a session of its
    own: the group's nice, /proc/PID/autogroup, is what ranks it against the
    other children. Both are set."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except PermissionError:
        return False
    except OSError:
        return True  # already gone: its exit status will tell
    try:
        with open("/proc/%d/autogroup" % pid, "w") as f:
            f.write(str(nice))
    except PermissionError:
        return False
    except OSError:
        pass  # no autogroup scheduling here: the process nice is the one that counts
    return True


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


class Procs:
    """Registry of every child; `stop_all` ends them by pid."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.all = []

    def spawn(self, name, argv, env=None, nice=0):
        """Starts argv; a nice other than 0 is set right after the spawn (the
        first milliseconds of the child run at ours); see renice."""
        out = os.path.join(self.log_dir, name + ".out")
        err = os.path.join(self.log_dir, name + ".err")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, out, flags, 0o644),
            (os.POSIX_SPAWN_OPEN, 2, err, flags, 0o644),
        ]
        pid = os.posix_spawn(argv[0], list(argv), env if env is not None else os.environ,
                             file_actions=actions, setsid=True)
        p = Proc(name, list(argv), pid, out, err)
        self.all.append(p)
        if nice:
            p.nice_ok = renice(pid, nice)
        return p

    def live(self):
        return [p for p in self.all if p.poll()]

    def stop(self, procs, sig=signal.SIGTERM, grace=10.0):
        """Signals procs, waits up to grace seconds for all, then SIGKILLs the rest."""
        procs = [p for p in procs if p.alive]
        for p in procs:
            p.signal(sig)
        deadline = time.monotonic() + grace
        while True:
            procs = [p for p in procs if p.poll()]
            if not procs or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in procs:
            p.signal(signal.SIGKILL)
        for p in procs:
            p.wait(5.0)

    def stop_all(self, grace=5.0):
        self.stop(self.all, grace=grace)
