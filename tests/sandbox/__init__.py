"""Tests of the Gameball emulator (bridge/sandbox/emulator) over real sockets."""
