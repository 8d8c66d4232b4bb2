"""The Windows simulation: with RELIEF_SIMULATE_WINDOWS=1 and this folder on PYTHONPATH, every
Python process (pytest, the CLI runs it starts, the import workers they spawn) starts without
the POSIX-only pieces that Windows lacks, so code that leans on them fails on Linux CI too.

    RELIEF_SIMULATE_WINDOWS=1 PYTHONPATH=tests/winsim pytest

Hidden: the modules resource, fcntl, pwd, grp and termios; os.fork, os.forkpty, os.fchmod and
os.fchown; the fork and forkserver start methods of multiprocessing (spawn, the only one on
Windows, becomes the default). os.getuid stays: pytest itself asks for it off Windows.
"""

import os
import sys

if os.environ.get("RELIEF_SIMULATE_WINDOWS") == "1":
    for _module in ("resource", "fcntl", "pwd", "grp", "termios"):
        sys.modules[_module] = None  # type: ignore[assignment]  # `import resource` now raises ImportError
    for _name in ("fork", "forkpty", "fchmod", "fchown"):
        if hasattr(os, _name):
            delattr(os, _name)

    import multiprocessing
    import multiprocessing.context

    for _method in ("fork", "forkserver"):
        multiprocessing.context._concrete_contexts.pop(_method, None)
    multiprocessing.context.DefaultContext.get_all_start_methods = lambda self: ["spawn"]
    multiprocessing.get_all_start_methods = lambda: ["spawn"]
    multiprocessing.set_start_method("spawn", force=True)
