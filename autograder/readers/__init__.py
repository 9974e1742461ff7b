"""Static readers: what a submission's files say (Dockerfile, Compose file, dbt profile), read without Docker."""
