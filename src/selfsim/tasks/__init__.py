"""Tasks: the jobs users have, built on the store's primitives and an encoder."""
