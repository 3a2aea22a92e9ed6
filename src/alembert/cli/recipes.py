"""``alembert recipes``: list, show or copy the shipped recipes."""

from __future__ import annotations

import argparse

from alembert.cli.common import command_parser, out
from alembert.errors import AlembertError


__all__ = ["register"]


def _cmd_recipes(args: argparse.Namespace) -> None:
    from alembert.config.recipes import copy_recipe, list_recipes, recipe_path, recipe_summary
    from alembert.report.tables import recipes_table

    console = out()
    if args.action == "list":
        console.print(recipes_table([(name, recipe_summary(name)) for name in list_recipes()]))
    elif args.action == "show":
        print(recipe_path(_need_name(args)).read_text(encoding="utf-8"), end="")
    else:
        console.print(f"copied to {copy_recipe(_need_name(args), args.destination or '.')}")


def _need_name(args: argparse.Namespace) -> str:
    if not args.name:
        raise AlembertError(f"recipes {args.action}: give a recipe name (see `alembert recipes list`)")
    return args.name


def register(sub: argparse._SubParsersAction) -> None:
    """Add the commands of this module to the ``alembert`` parser."""
    p = command_parser(
        sub,
        "recipes",
        "list, show or copy the shipped recipes",
        "The shipped recipes (one YAML per paper and variant): list them, print one, or copy one to edit.",
        "alembert recipes list\nalembert recipes copy tinybert-task ./my-recipe.yaml",
    )
    p.add_argument("action", choices=["list", "show", "copy"])
    p.add_argument("name", nargs="?")
    p.add_argument("destination", nargs="?")
    p.set_defaults(func=_cmd_recipes)
