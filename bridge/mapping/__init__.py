"""Record -> Gameball operations. Pure: no I/O, compiled once at load time (`mapper.Mapper`)."""
