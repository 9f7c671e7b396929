"""Local platform tooling: the `pinterest` CLI, the local stack (Kafka, Postgres, S3), the demo,
`pinterest dev` and the reconciliation. It drives the code location (`pinterest_assets`) and the
ingestion service (`pinterest_ingest`); neither of them imports anything from here."""
