"""The jobs: pull (marketplace → store), push (outbox → marketplace), track (carrier → store). Each is a plain
function of (store, adapter) so the daemon, the CLI and the tests run the same code."""
