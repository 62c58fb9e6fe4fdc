"""Matching sportsbook player names to NBA.com player ids.

Books spell players their own way: accents dropped ("Luka Doncic"), suffixes added or dropped
("Jaren Jackson Jr"), initials ("G. Antetokounmpo"), surname first ("Love Kevin"), legal names
("Alfred Joel Horford Reynoso"), nicknames ("Herb Jones"), team tags ("Daniel Theis (IND)").
A line is matched against the players of its two teams (those who played for them in the 30 days
up to the game), in this order, the first unique answer winning:

1. `exact`: the same string;
2. `normalized`: equal after removing accents, punctuation, suffixes and parentheses;
3. `alias`: the repository's alias table (statmuse_pipelines/player_aliases.csv) says who it is;
4. `reordered`: the same words in another order;
5. `initial`: an initial (or first letters) and the surname ("G. Antetokounmpo", "Mil. Bridges");
6. `subset`: every word of the shorter name is in the longer one, surname included;
7. `fuzzy`: the closest name by similarity, if at least FUZZY_THRESHOLD and clearly ahead of the
   next; ties are broken by who played that day.

Whatever does not match is kept with the reason (no candidate, ambiguous, too far).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources

SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "v"}
FUZZY_THRESHOLD = 0.85
FUZZY_MARGIN = 0.05


@lru_cache(maxsize=65536)
def normalize(name: str) -> str:
    """'De’Anthony Melton (PHI)' -> 'deanthony melton'; 'Jaren Jackson Jr.' -> 'jaren jackson'."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"\(.*?\)", " ", text).lower()
    text = text.replace("’", "'").replace("'", "").replace(".", " ").replace("-", " ")
    text = re.sub(r"[^a-z ]", " ", text)
    words = [w for w in text.split() if w not in SUFFIXES]
    # "c j mccollum" (from "C.J.") reads as "cj mccollum"
    merged: list[str] = []
    for w in words:
        joins = len(w) == 1 and merged and len(merged[-1]) <= 2 and len(words) > 2
        if joins:
            merged[-1] += w
        else:
            merged.append(w)
    return " ".join(merged)


@lru_cache(maxsize=1)
def aliases() -> dict[str, str]:
    """normalized book spelling -> normalized NBA.com name, from the repository's alias table."""
    text = resources.files("statmuse_pipelines").joinpath("player_aliases.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {normalize(r["book_name"]): normalize(r["nba_name"]) for r in rows}


@dataclass(frozen=True)
class Candidate:
    player_id: int
    name: str
    played: bool  # played in this game


@dataclass(frozen=True)
class Match:
    player_id: int | None
    name: str | None
    method: str  # exact, normalized, alias, reordered, initial, subset, fuzzy, none
    score: float
    reason: str = ""


def _unique(found: list[Candidate]) -> Candidate | None:
    ids = {c.player_id for c in found}
    if len(ids) == 1:
        return found[0]
    played = [c for c in found if c.played]
    if len({c.player_id for c in played}) == 1:
        return played[0]  # the team/date tie-breaker
    return None


def _subset(words: list[str], other: list[str]) -> bool:
    """Every word of the shorter name is in the longer one, the book's surname included."""
    if len(words) < 2 or len(other) < 2 or words[-1] not in other:
        return False
    return set(words) <= set(other) or set(other) <= set(words)


def match_name(book_name: str, candidates: list[Candidate]) -> Match:
    """The NBA.com player a book's spelling means, among the game's candidates."""
    if not candidates:
        return Match(None, None, "none", 0.0, "no player of either team in the 30 days before")
    norm = {c.player_id: normalize(c.name) for c in candidates}
    target = normalize(book_name)
    words = target.split()
    steps = [
        ("exact", lambda c: c.name == book_name),
        ("normalized", lambda c: norm[c.player_id] == target),
        ("alias", lambda c: aliases().get(target) == norm[c.player_id]),
        ("reordered", lambda c: sorted(norm[c.player_id].split()) == sorted(words)),
        (
            "initial",
            lambda c: (
                len(words) >= 2
                and len(words[0]) <= 3
                and norm[c.player_id].split()[1:] == words[1:]
                and norm[c.player_id].startswith(words[0])
            ),
        ),
        ("subset", lambda c: _subset(words, norm[c.player_id].split())),
    ]
    for method, test in steps:
        found = [c for c in candidates if test(c)]
        if found:
            chosen = _unique(found)
            if chosen is not None:
                return Match(chosen.player_id, chosen.name, method, 1.0)
            names = ", ".join(sorted({c.name for c in found}))
            return Match(None, None, "none", 0.0, f"ambiguous ({method}): {names}")
    scored = sorted(
        ((SequenceMatcher(None, target, norm[c.player_id]).ratio(), c) for c in candidates),
        key=lambda sc: (-sc[0], not sc[1].played),
    )
    best_score, best = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    if best_score >= FUZZY_THRESHOLD and best_score - runner_up >= FUZZY_MARGIN:
        return Match(best.player_id, best.name, "fuzzy", round(best_score, 3))
    return Match(
        None,
        None,
        "none",
        round(best_score, 3),
        f"closest is {best.name} at {best_score:.2f} (needs {FUZZY_THRESHOLD})",
    )
