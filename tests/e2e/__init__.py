"""End-to-end tests: the real CLI and Python API over real HTTP against the fal emulator."""
