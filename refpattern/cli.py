"""The ``refpattern`` command line: ``refpattern --help`` lists the commands.

Each command lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status); this file only wires them up.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "verify": ("refpattern.experiments.verify",
               "check every claim of the paper's linear toy example (Sec. 2, 4) and write a report"),
    "reproduce": ("refpattern.experiments.reproduce",
                  "reproduce the paper's CNN experiments (Fig. 3, 4, 5) on built-in data"),
    "train": ("refpattern.train_demo", "train the demo CNN on the built-in synthetic image task and report accuracy"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refpattern",
        description="Reference implementation of PatternNet, PatternAttribution and the methods they are "
                    "compared with (Kindermans et al., ICLR 2018).",
    )
    from refpattern import __version__

    parser.add_argument("--version", action="version", version=f"refpattern {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue  # a command whose module is not there yet is not offered
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
