"""Start one grading kernel: ipykernel on the student package, inside bubblewrap when there is one.

The grading worker installs a kernelspec whose argv is
``python .../kernel_launcher.py {connection_file}`` (run by path: it imports nothing of
sslcourse, so a kernel starts as fast as a plain one). Everything else comes from environment
variables the worker sets (see `sslcourse.course.sandbox`, which writes them):

    SSLCOURSE_KERNEL_PACKAGE   folder holding the student package (sslcourse/ with stubs): PYTHONPATH
    SSLCOURSE_BWRAP            path of bwrap, or empty: no sandbox
    SSLCOURSE_READ_ONLY        os.pathsep-separated folders the kernel may read (the Python install)
    SSLCOURSE_HIDE             os.pathsep-separated folders shown empty (the full package, wherever it is)

Inside the sandbox the kernel sees the system (/usr, /etc) and those folders read-only, its own
working folder (the submission's copy in autograded/) and the connection folder read-write, a
private /tmp, and nothing else: no course folder, no gradebook, no other student, no network
(a network namespace of its own; the kernel talks to nbgrader over unix sockets), no other
process, and it runs as the unprivileged user nobody.
"""
import os
import sys


def bwrap_argv(bwrap: str, cwd: str, connection_dir: str, package: str, read_only: list[str],
               hide: list[str]) -> list[str]:
    """The bubblewrap command line that wraps a kernel (see the module docstring)."""
    argv = [bwrap, "--die-with-parent", "--unshare-all", "--uid", "65534", "--gid", "65534",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
            "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for top in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):  # merged-/usr symlinks, or real folders
        path = "/" + top
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in [*read_only, package]:
        argv += ["--ro-bind", path, path]
    for path in hide:  # e.g. site-packages/sslcourse of a non-editable install: empty inside
        argv += ["--tmpfs", path]
    argv += ["--bind", connection_dir, connection_dir, "--bind", cwd, cwd, "--chdir", cwd,
             "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
             # in its own PID namespace the kernel's parent is pid 1, which ipykernel's parent poller
             # takes for "the notebook server died"; --die-with-parent does that job instead
             "--unsetenv", "JPY_PARENT_PID"]
    return argv


def main(connection_file: str) -> None:
    package = os.environ["SSLCOURSE_KERNEL_PACKAGE"]
    bwrap = os.environ.get("SSLCOURSE_BWRAP", "")
    read_only, hide = ([p for p in os.environ.get(var, "").split(os.pathsep) if p]
                       for var in ("SSLCOURSE_READ_ONLY", "SSLCOURSE_HIDE"))
    os.environ["PYTHONPATH"] = package  # the student package, never the one with the answers
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
    if not bwrap:
        os.execv(sys.executable, kernel)
    connection_dir = os.path.dirname(os.path.realpath(connection_file))
    if connection_dir != os.path.realpath(os.environ.get("JUPYTER_RUNTIME_DIR", "")):
        # the folder is bound read-write into the sandbox: only the worker's private one may be
        sys.exit(f"kernel_launcher: the connection file {connection_file} is not in the worker's private "
                 "JUPYTER_RUNTIME_DIR; refusing to expose its folder to the sandbox")
    argv = bwrap_argv(bwrap, os.getcwd(), connection_dir, package, read_only, hide)
    os.execv(bwrap, argv + kernel)


if __name__ == "__main__":
    main(sys.argv[1])
