"""Small helpers every layer uses, importing nothing of davserver: dates, escaping, sizes."""
