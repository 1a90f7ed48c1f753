"""Small helpers every layer uses, importing nothing of davserver: dates, escaping, sizes,
addresses, and the turns the requests of one process take."""
