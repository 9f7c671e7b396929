"""IO managers: the lake (Spark DataFrames as Parquet, one folder per daily partition) and Postgres."""
