"""Generate the site's reference pages at build time (mkdocs-gen-files runs this script).

Nothing here is written by hand, so the pages follow the code:

* ``reference/models/<name>.md``: one page per model in the registry (its one-line summary, the module's and the
  class's docstrings, the ``Params`` fields with types and defaults, the ``search_space``);
* ``reference/cli/<command>.md``: one page per ``alignrec`` command, read off the argparse parsers;
* ``results/files/<name>.md``: the Markdown results files of ``benchmarks/results/``, so the results pages can
  link to them.

Each folder gets a ``SUMMARY.md`` that mkdocs-literate-nav turns into the navigation. Run on its own,
``python docs/gen_reference.py OUT`` writes the same pages under the folder ``OUT``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Sphinx roles in docstrings (:func:`~a.b.c`) become code spans naming the object.
ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
CODE_SPAN = re.compile(r"(``.+?``|`[^`]+`)")


def markdown_of_docstring(text: str | None) -> str:
    """A docstring as Markdown: dedented, Sphinx roles turned into code spans (``double backticks`` already are)."""
    import inspect

    return ROLE.sub(lambda m: f"``{m.group(1)}``", inspect.cleandoc(text or ""))


def cell(text: Any) -> str:
    """One Markdown table cell of prose: no line breaks; pipes, asterisks and angle brackets escaped."""
    parts = CODE_SPAN.split(" ".join(str(text).split()))
    # even parts are prose, odd ones code spans (left as they are: the tables extension keeps their pipes)
    return "".join(part if i % 2 else part.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")
                   .replace(">", "&gt;") for i, part in enumerate(parts))


def code_cell(text: Any) -> str:
    """One Markdown table cell holding a code span (the tables extension leaves pipes inside backticks alone)."""
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def default_of(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return repr(f.default)
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return repr(f.default_factory())  # type: ignore[misc]
    return "required"


def type_name(f: dataclasses.Field) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def summary_line(cls: type) -> str:
    """The first line of a model class's docstring (what ``alignrec models`` prints)."""
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def params_doc(params_cls: type) -> str:
    """The Params dataclass's own docstring, or '' where it only has the one dataclasses makes up."""
    doc = (params_cls.__doc__ or "").strip()
    return "" if doc.startswith(f"{params_cls.__name__}(") else markdown_of_docstring(doc)


def model_page(name: str) -> str:
    """The reference page of the registered model ``name``."""
    from alignrec.models import model_class

    cls = model_class(name)
    module = sys.modules[cls.__module__]
    lines = [f"# `{name}`", "", f"**{summary_line(cls)}**", ""]
    lines += [markdown_of_docstring(module.__doc__), ""]
    rest = markdown_of_docstring(cls.__doc__).split("\n", 1)
    if len(rest) > 1 and rest[1].strip():
        lines += [rest[1].strip(), ""]
    kind = "trained by gradient steps" if cls.trainable else "fitted in one pass (no epochs)"
    cold = ("ranks items that have no training interactions from their content"
            if cls.scores_unseen_items else "ranks only items it saw in training")
    lines += [f"Implemented in `{cls.__module__}` as `{cls.__name__}`: {kind}; {cold}.", ""]
    lines += ["## Parameters", ""]
    fields = dataclasses.fields(cls.Params)
    if doc := params_doc(cls.Params):
        lines += [doc, ""]
    if fields:
        lines += ["| parameter | type | default |", "|---|---|---|"]
        lines += [f"| `{f.name}` | {code_cell(type_name(f))} | {code_cell(default_of(f))} |" for f in fields]
        example = fields[0]
        lines += ["", "Set any of them with `--param NAME=VALUE` (the same as `--set params.NAME=VALUE`) or in the "
                      "`params` section of a config file:", "", "```bash",
                  f"alignrec train DATA --model {name} --param {example.name}={_plain(example)}", "```", ""]
    else:
        lines += ["None.", "", "```bash", f"alignrec train DATA --model {name}", "```", ""]
    lines += ["## Search space", ""]
    if cls.search_space:
        lines += ["The grid `alignrec tune` searches on the validation split (`--space FILE` replaces it):", "",
                  "| config path | values |", "|---|---|"]
        lines += [f"| `{path}` | {cell(', '.join(repr(v) for v in values))} |"
                  for path, values in cls.search_space.items()]
    else:
        lines += ["None declared: `alignrec tune` needs a `--space FILE` for this model."]
    return "\n".join(lines) + "\n"


def _plain(f: dataclasses.Field) -> str:
    value = f.default if f.default is not dataclasses.MISSING else "VALUE"
    return str(value).lower() if isinstance(value, bool) else str(value)


def model_pages() -> dict[str, str]:
    """``{relative path: Markdown}`` for every registered model, an index and the section's nav."""
    from alignrec.models import available_models, model_class

    names = available_models()
    pages = {f"{name}.md": model_page(name) for name in names}
    index = ["# Models", "", "Every model registered in `alignrec.models` when this site was built (`alignrec models` "
             "prints the same list). Each page is generated from the model's code: docstrings, `Params`, "
             "`search_space`. What the parameters mean in general, and how content reaches a model: "
             "[Models and their parameters](../../guide/models.md).", "",
             "| model | what it is | parameters |", "|---|---|---|"]
    for n in names:
        cls = model_class(n)
        index.append(f"| [`{n}`]({n}.md) | {cell(summary_line(cls))} | {len(dataclasses.fields(cls.Params))} |")
    pages["index.md"] = "\n".join(index) + "\n"
    pages["SUMMARY.md"] = "* [All models](index.md)\n" + "".join(f"* [{n}]({n}.md)\n" for n in names)
    return pages


# --- command line -----------------------------------------------------------------------------------------------

def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, one-line help, parser)`` of each subcommand of ``parser``, in registration order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def flags_of(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    meta = ""
    if action.nargs != 0:
        meta = " " + (action.metavar if isinstance(action.metavar, str) else action.dest.upper())
    return ", ".join(f"`{opt}{meta}`" for opt in action.option_strings)


def argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    """One Markdown table per argument group of ``parser``."""
    formatter = parser._get_formatter()
    out: list[str] = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                   and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
        if not actions:
            continue
        out += [f"**{group.title}**", "", "| argument | meaning | choices / default |", "|---|---|---|"]
        for action in actions:
            meaning = formatter._expand_help(action) if action.help else ""
            extra = []
            if action.choices is not None:
                extra.append(", ".join(f"`{c}`" for c in action.choices))
            if action.required and action.option_strings:
                extra.append("required")
            if action.default not in (None, False, [], argparse.SUPPRESS) and action.option_strings:
                extra.append(f"default {code_cell(action.default)}")
            out.append(f"| {flags_of(action)} | {cell(meaning)} | {'; '.join(extra)} |")
        out.append("")
    return out


def command_section(prog: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    """Usage, description, arguments and examples of one (sub)command, then its subcommands one level down."""
    lines = ["```text", parser.format_usage().strip(), "```", ""]
    if parser.description:
        lines += [parser.description.strip(), ""]
    lines += argument_rows(parser)
    if parser.epilog:
        lines += ["```text", parser.epilog.strip("\n"), "```", ""]
    for name, help_text, sub in subcommands(parser):
        lines += [f"{'#' * (level + 1)} `{prog} {name}`", "", sentence(help_text), ""]
        lines += command_section(f"{prog} {name}", sub, level + 1)
    return lines


def sentence(text: str) -> str:
    """A command's one-line help as a sentence."""
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".") if text else ""


def cli_pages() -> dict[str, str]:
    """``{relative path: Markdown}`` for every ``alignrec`` command, an index and the section's nav."""
    from alignrec.cli import build_parser

    commands = list(subcommands(build_parser()))
    pages = {}
    for name, help_text, parser in commands:
        lines = [f"# `alignrec {name}`", "", sentence(help_text), ""]
        pages[f"{name}.md"] = "\n".join(lines + command_section(f"alignrec {name}", parser, 1)) + "\n"
    index = ["# Command line", "", "Every `alignrec` command (generated from the argparse parsers when this site was "
             "built; `alignrec COMMAND --help` prints the same). Commands that take a config read the one config "
             "tree: [The config tree](../../guide/config.md).", "", "| command | what it does |", "|---|---|"]
    index += [f"| [`alignrec {n}`]({n}.md) | {cell(h)} |" for n, h, _ in commands]
    pages["index.md"] = "\n".join(index) + "\n"
    pages["SUMMARY.md"] = "* [All commands](index.md)\n" + "".join(f"* [{n}]({n}.md)\n" for n, _, _ in commands)
    return pages


# --- results files ----------------------------------------------------------------------------------------------

def results_pages() -> dict[str, str]:
    """Each ``benchmarks/results/*.md`` as a page of its own, titled by its file name."""
    pages = {}
    for path in sorted(RESULTS.glob("*.md")):
        pages[path.name] = (f"# {path.name}\n\n`benchmarks/results/{path.name}`, written by the benchmark script "
                            f"named on the results pages (JSON beside it: `{path.stem}.json`).\n\n"
                            + path.read_text())
    return pages


def all_pages() -> dict[str, str]:
    """Every generated page, keyed by its path under ``docs/``."""
    sections = {"reference/models": model_pages(), "reference/cli": cli_pages(), "results/files": results_pages()}
    return {f"{folder}/{name}": text for folder, pages in sections.items() for name, text in pages.items()}


def main() -> None:
    import mkdocs_gen_files

    for path, text in all_pages().items():
        with mkdocs_gen_files.open(path, "w") as out:
            out.write(text)


if __name__ == "<run_path>":  # run by mkdocs-gen-files
    main()
elif __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "generated-docs")
    for rel, content in all_pages().items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(content)
    print(f"wrote {len(all_pages())} pages under {target}")
