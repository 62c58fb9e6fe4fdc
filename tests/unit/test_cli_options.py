"""The command line's option tables: each option reaches its run-config key, and only its own."""

from statmuse_pipelines.cli import TRAINING, WALK_FORWARD, _given, build_parser


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_backfill_dates_are_not_the_walk_forward_period():
    # `--eval-start`'s run-config key is `start`: the backfill's own --start must not become it
    args = parse("backfill", "--start", "2015-10-01", "--end", "2024-04-30", "--lines", "x")
    assert (args.start, args.end) == ("2015-10-01", "2024-04-30")
    assert _given(args, WALK_FORWARD) == {}
    assert _given(args, TRAINING) == {}

    args = parse("backfill", "--start", "2015-10-01", "--end", "2024-04-30",
                 "--eval-start", "2023-11-01", "--refit-months", "2")  # fmt: skip
    assert _given(args, WALK_FORWARD) == {"start": "2023-11-01", "refit_months": 2}
    assert args.start == "2015-10-01"


def test_training_options_reach_their_keys():
    args = parse("train", "--trials", "3", "--player-trials", "1", "--max-players", "5",
                 "--min-games", "40", "--tune")  # fmt: skip
    assert _given(args, TRAINING) == {
        "pooled_trials": 3, "player_trials": 1, "max_players": 5, "min_games": 40,
        "retune_days": 0,
    }  # fmt: skip
    assert _given(parse("evaluate", "--eval-end", "2024-04-14"), WALK_FORWARD) == {
        "end": "2024-04-14"
    }
