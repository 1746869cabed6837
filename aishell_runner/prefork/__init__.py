"""A per-user server that has imported aishell-run once and forks a worker for each command (server.py), and the
thin client that `aishell-run` starts as (client.py): a warm launch without Python's start and imports."""
