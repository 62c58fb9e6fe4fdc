"""Season arithmetic: the July 1 boundary the range runs are split at."""

from datetime import date

from statmuse_pipelines.core.seasons import season_chunks


def test_season_chunks_split_at_july_first():
    assert season_chunks(date(2015, 10, 1), date(2017, 4, 30)) == [
        (date(2015, 10, 1), date(2016, 6, 30)),
        (date(2016, 7, 1), date(2017, 4, 30)),
    ]


def test_season_chunks_of_one_season_and_of_the_boundary_days():
    assert season_chunks(date(2023, 10, 24), date(2023, 11, 23)) == [
        (date(2023, 10, 24), date(2023, 11, 23))
    ]
    assert season_chunks(date(2023, 6, 30), date(2023, 7, 1)) == [
        (date(2023, 6, 30), date(2023, 6, 30)),
        (date(2023, 7, 1), date(2023, 7, 1)),
    ]
