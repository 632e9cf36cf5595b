"""Friendly default run names (``brave-otter-42``), as MLflow users are used to."""

from __future__ import annotations

import random

__all__ = ["random_run_name"]

_ADJECTIVES = (
    "able agile amber bold brave bright calm clever cool crisp curious daring eager fair fast fierce fond "
    "gentle glad grand happy honest keen kind lively lucky merry mighty neat noble polite proud quick quiet "
    "rapid sharp shiny silent sleek smart snappy solid steady sunny swift tidy vivid warm wise witty zesty"
).split()
_NOUNS = (
    "ant badger bat bear bee bison cat cobra crab crane deer dolphin dove eagle eel falcon finch fox frog "
    "gecko goat hare hawk heron ibis koala lark lemur lion lynx mole moose newt otter owl panda puma "
    "quail raven robin seal shark sloth snail swan tiger toad trout turtle viper whale wolf wren yak zebra"
).split()


def random_run_name() -> str:
    """Return a random ``adjective-animal-number`` name."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(1, 999)}"
