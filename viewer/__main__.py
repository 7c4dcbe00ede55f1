"""`ichview` entry point: the GUI by default, sub-commands info / demo / analyze / listen / train / evaluate."""
from __future__ import annotations

import importlib
import sys

# Sub-command -> "module:function"; each function takes argv (list[str]) and returns an exit code.
# Imported lazily so `ichview info` never pays for torch or Qt.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("viewer.cli.info:main", "list patients, studies, series and stacks in PATH"),
    "demo": ("viewer.cli.demo:main", "write a synthetic demo study with a bleed"),
    "analyze": ("viewer.cli.analyze:main", "run the AI headless and write a findings PDF / JSON"),
    "triage": ("viewer.cli.triage:main", "triage many studies into a worklist sorted by suspicion"),
    "listen": ("viewer.cli.listen:main", "receive pushed CT studies, analyse them, send DICOM SR results to a PACS"),
    "train": ("inference.training.train:main", "train the hemorrhage model (synthetic or RSNA 2019 layout)"),
    "evaluate": ("inference.training.evaluate:main", "evaluate a model on the fixed held-out set"),
    "view": ("viewer.qt.app:main", "open the viewer (the default when no sub-command is given)"),
}


def _usage() -> str:
    from viewer import __version__

    lines = [
        f"ichview {__version__} - head CT viewer with an AI assist for intracranial hemorrhage",
        "(research and triage aid, not a diagnosis)",
        "",
        "usage: ichview [PATH ...]            open the viewer",
        "       ichview COMMAND [options]    (ichview COMMAND --help for its options)",
        "",
        "commands:",
    ]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "  --version  print the version and exit"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; anything else opens the viewer."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args and args[0] in ("-V", "--version"):
        from viewer import __version__

        print(f"ichview {__version__}")
        return 0
    if args and args[0] in COMMANDS:
        target = COMMANDS[args.pop(0)][0]
    else:
        target = COMMANDS["view"][0]
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
