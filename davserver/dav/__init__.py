"""WsgiDAV glue: the only package that imports wsgidav."""
