"""Ending the process after a command: status, exit handlers and output kept, threads awaited."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from img2img.cli.exit import exit_status

#: stands in for ``import torch`` (whose teardown the shortcut is for) without its 3 s import
AS_IF_TORCH = "import sys, types; sys.modules['torch'] = types.ModuleType('torch')"


def _python(code: str) -> subprocess.CompletedProcess:
    code = AS_IF_TORCH + "\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), (130, 130)])
def test_exit_status_of_sys_exit_codes(code, status):
    assert exit_status(code) == status


def test_exit_status_of_a_message_is_one_and_prints_it(capsys):
    assert exit_status("went wrong") == 1
    assert capsys.readouterr().err == "went wrong\n"


def test_status_handlers_and_buffered_output_survive_without_teardown():
    result = _python("""
        import atexit
        from img2img.cli.exit import exit_process
        class Finalised:  # reports the interpreter's teardown, which the shortcut skips
            def __del__(self):
                print("torn down", file=sys.stderr)
        kept = Finalised()
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout.write("x" * 200_000)  # larger than any pipe buffer: must be flushed
        exit_process(3)
        print("not reached")
    """)
    assert result.returncode == 3
    assert result.stdout == "x" * 200_000
    assert result.stderr == "handler ran\n"


def test_a_running_thread_is_awaited(tmp_path):
    done = tmp_path / "done"
    result = _python(f"""
        import threading, time
        from pathlib import Path
        from img2img.cli.exit import exit_process
        def work():
            time.sleep(0.5)
            Path({str(done)!r}).write_text("finished")
        threading.Thread(target=work).start()
        exit_process(0)
    """)
    assert result.returncode == 0, result.stderr
    assert done.read_text() == "finished"


def test_command_exit_status_through_main(tmp_path):
    """``python -m img2img``: a failing command's status and message are kept."""
    result = subprocess.run(
        [sys.executable, "-m", "img2img", "translate", "--model", str(tmp_path / "nope.pt"),
         str(tmp_path), str(tmp_path / "out"), "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert "nope.pt" in result.stderr + result.stdout
