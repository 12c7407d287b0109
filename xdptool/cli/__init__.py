"""The `xdptool` command line (main.py: the click group; one module per subcommand)."""


def run() -> None:
    """The console script's entry point: the cyclic collector is turned off before click and
    the command modules load (their ~50k new objects would trigger collections that free
    nothing), then main.main runs the command, which turns it on again (console.startup_over)."""
    import gc

    gc.disable()
    from .main import main as run_command

    run_command()
