"""One module per stage of the asset graph; each asset is thin: read, call core, write."""

import warnings

import dagster as dg

# BackfillPolicy.single_run() and pools are marked beta in dagster 1.13; they are what the design
# asks for (one run per range backfill; one writer for DuckDB, one caller for stats.nba.com).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
