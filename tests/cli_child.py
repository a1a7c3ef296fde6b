"""Run a command of the package as a fresh process forked from a server that has already imported the package.

A command started with `subprocess` spends ~11 s of a 2-core CI machine importing torch, torchvision and fastai
before it does anything; the process tests start about seventy. `run_command` instead forks a child from a
`multiprocessing` forkserver that imported them once (and never ran a model: no thread pool is forked), points
its file descriptors 1 and 2 at files, sets its arguments, environment, umask and working directory, and calls the
console script's function -- what the installed `severstal_train` script does after its imports. Exit codes,
stdout and stderr are those of the command. The tests that need a real interpreter start (an import in a fresh
process, `python -m`, signals sent to a process, other environment variables read at import) still use
`subprocess`."""
import importlib, multiprocessing, os, subprocess, sys, tempfile, traceback

COMMANDS = {"severstal_train": "severstal_cbam.train", "severstal_predict": "severstal_cbam.predict_cli",
            "severstal_report": "severstal_cbam.interpret", "severstal_bench": "severstal_cbam.bench",
            "severstal_export": "severstal_cbam.export"}
_ctx = None


def _context():
    global _ctx
    if _ctx is None:
        _ctx = multiprocessing.get_context("forkserver")
        _ctx.set_forkserver_preload(["cli_child", *COMMANDS.values()])
    return _ctx


def _child(prog, args, env, cwd, umask, out, err):
    "In the forked child: the command's process, as its console script would run it."
    os.chdir(cwd); os.umask(umask)
    os.environ.clear(); os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC); os.dup2(f, fd); os.close(f)
    sys.argv = [prog, *args]
    code = 0
    try: importlib.import_module(COMMANDS[prog]).main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))): print(e.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc(); code = 1
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(code)


def run_command(prog, args, env, cwd, timeout=900) -> subprocess.CompletedProcess:
    "Run the console script `prog` with `args` in a forked child; a `CompletedProcess` as `subprocess.run(capture_output=True, text=True)` gives."
    with tempfile.TemporaryDirectory() as d:
        out, err = os.path.join(d, "out"), os.path.join(d, "err")
        umask = os.umask(0); os.umask(umask)                                   # the caller's, as a child process inherits it
        p = _context().Process(target=_child, args=(prog, list(args), dict(env), str(cwd), umask, out, err))
        p.start(); p.join(timeout)
        if p.is_alive():
            p.kill(); p.join()
            raise subprocess.TimeoutExpired([prog, *args], timeout)
        read = lambda path: open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
        return subprocess.CompletedProcess([prog, *args], p.exitcode, read(out), read(err))
