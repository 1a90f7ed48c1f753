"""The pure lock core: no I/O, no HTTP, no storage, no clock (time is a parameter)."""
