"""A process that imports torch and img2img once, then forks one child per command.

Importing torch costs seconds of CPU; every child of this server starts with it done, in a few
milliseconds. A child is an ordinary process of its own (its own pid, memory, file descriptors,
resource limits and signal dispositions) that runs ``img2img ARGS`` as ``python -m img2img``
would, or a Python snippet, so signals and ``kill -9`` reach exactly what they would reach in
a process started from a shell. The server itself never runs a tensor operation, so no thread
pool exists when it forks.

Protocol, one JSON object per line: a request on stdin
``{"argv": [...] | "code": str, "cwd", "stdout", "stderr", "status", "limits", "headroom"}``
is answered on stdout with ``{"pid": N}``; when the child ends, its exit code (negative: the
signal that ended it, as :mod:`subprocess` reports it) is written to the ``status`` file.
``limits`` are resource limits set in the child; ``headroom`` caps the child's address space at
what it has mapped already plus that many bytes (a memory limit that torch's own large mapping
would otherwise make meaningless). SIGUSR1 makes a child print every thread's stack to its
stderr. The server exits when its stdin closes.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import json
import os
import resource
import runpy
import select
import signal
import sys
import traceback

import cv2  # noqa: F401
import PIL.Image
import pydantic  # noqa: F401  (typer's option parsing)
import rich.logging  # noqa: F401
import torch  # noqa: F401
import torch._dynamo  # noqa: F401  (an optimizer's first use imports it)
import torch.utils.serialization  # noqa: F401
import typer._adapters  # noqa: F401

import img2img.cli.app  # noqa: F401
import img2img.cli.memory  # noqa: F401
import img2img.cli.show  # noqa: F401
import img2img.engine.trainer  # noqa: F401
import img2img.families.loading  # noqa: F401
import img2img.families.pix2pix.training  # noqa: F401
import img2img.hub.datasets  # noqa: F401
import img2img.infer.translate  # noqa: F401
import img2img.launch  # noqa: F401
import img2img.nn.patchgan  # noqa: F401
import img2img.nn.resnet  # noqa: F401
import img2img.nn.unet  # noqa: F401

PIL.Image.init()
# what was imported stays out of the collector's passes: a child's first full collection would
# otherwise touch (and so copy) every page of the heap it shares with the server
gc.collect()
gc.freeze()


def _mapped_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(request: dict) -> int:
    """Become the requested command; returns its exit code."""
    os.chdir(request["cwd"])
    for name, value in (request.get("limits") or {}).items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if request.get("headroom"):
        cap = _mapped_bytes() + int(request["headroom"])
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    os.close(null)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # where a hung child is stuck
    try:
        if "code" in request:
            sys.argv = ["-c", *request.get("args", [])]
            exec(compile(request["code"], "<request>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = ["img2img", *request["argv"]]
            runpy.run_module("img2img", run_name="__main__")
        return 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        return -signal.SIGINT  # as Python does: end by the signal itself
    except BaseException:  # noqa: BLE001 - a crash is reported as a real process reports it
        traceback.print_exc()
        return 1


def _exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def _report(pid: int, status: int, running: dict[int, str]) -> None:
    path = running.pop(pid)
    with open(path + ".part", "w") as f:
        f.write(str(os.waitstatus_to_exitcode(status)))
    os.replace(path + ".part", path)


def serve() -> None:
    running: dict[int, str] = {}
    stdin = sys.stdin.buffer
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.002)
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _report(pid, status, running)
        if not ready:
            continue
        line = stdin.readline()
        if not line:
            return
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _exit(_child(request))
        running[pid] = request["status"]
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
