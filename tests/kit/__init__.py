"""The shared test kit: environments and settings on a test's own folders (kit.environ), the
service context and in-process clients (tests/conftest.py), the real servers (kit.servers),
`imagehost serve` (kit.serve) and the CLI (kit.cli) in subprocesses."""
